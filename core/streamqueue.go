package core

import (
	"context"
	"sync"
)

// subscribeQueue bounds the values waiting for a slow subscriber's stream.
const subscribeQueue = 256

// streamQueue hands values from fan-out callbacks (which must not block) to a stream's own
// goroutine, where all sending happens. A subscriber that lets it fill is cut off.
//
// It holds nothing while idle: a driver may keep a thousand subscriptions open, most of them to
// statuses that rarely change, and a 256-slot channel each cost 6 KiB a subscription for nothing
// (5,000 subscriptions held 32 MB of empty queues). The slice grows only while values wait.
type streamQueue[T any] struct {
	limit int
	wake  chan struct{} // one slot: a value is waiting, or the queue failed

	mu     sync.Mutex
	values []T
	behind bool
}

func newStreamQueue[T any](limit int) *streamQueue[T] {
	return &streamQueue[T]{limit: limit, wake: make(chan struct{}, 1)}
}

func (q *streamQueue[T]) put(v T) {
	q.mu.Lock()
	if !q.behind {
		if len(q.values) < q.limit {
			q.values = append(q.values, v)
		} else {
			q.behind, q.values = true, nil
		}
	}
	q.mu.Unlock()
	q.signal()
}

// fail ends the stream with ErrSubscriberBehind (the listener behind it was dropped).
func (q *streamQueue[T]) fail() {
	q.mu.Lock()
	q.behind, q.values = true, nil
	q.mu.Unlock()
	q.signal()
}

func (q *streamQueue[T]) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next takes the oldest waiting value; behind reports an overflow.
func (q *streamQueue[T]) next() (v T, ok, behind bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.behind {
		return v, false, true
	}
	if len(q.values) == 0 {
		return v, false, false
	}
	var zero T
	v, q.values[0] = q.values[0], zero
	q.values = q.values[1:]
	if len(q.values) == 0 {
		q.values = nil // let the backing array go
	}
	return v, true, false
}

// drain sends every value until ctx ends (nil), a send fails, or the queue overflowed
// (ErrSubscriberBehind). An overflow ends the stream as soon as the send under way returns: the
// values still queued are stale by then.
func (q *streamQueue[T]) drain(ctx context.Context, send func(T) error) error {
	for {
		v, ok, behind := q.next()
		switch {
		case behind:
			return ErrSubscriberBehind
		case ok:
			if err := send(v); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}
