package lazyq

import (
	"sync"
	"time"
)

// minRing is the ring's first allocation; keepRing is the largest ring kept once it is empty
// (a larger one was grown by a burst and goes back to the heap).
const (
	minRing  = 4
	keepRing = 16
)

// Config is what a Queue does with its items.
type Config[T any] struct {
	// Limit bounds the items waiting (not counting the one being handled); at least 1.
	Limit int
	// Size, if set, weighs an item (a message's bytes, say), and MaxSize bounds the total weight
	// of the items waiting: a Push past it fails as one past Limit does. One item heavier than
	// MaxSize may wait besides (a second fails until it is taken), so that such an item still
	// goes through to a consumer that keeps up: the items waiting weigh at most MaxSize plus one
	// item.
	Size    func(T) int
	MaxSize int
	// Linger is how long the consumer waits for another item before it ends (between one and two
	// Linger after the last item: its clock ticks once a period, it is not re-armed per item);
	// 0 ends it as soon as the queue is empty.
	Linger time.Duration
	// Handle is called for each item, in order, on the consumer goroutine, one at a time.
	Handle func(T)
	// WG, if set, counts the consumer goroutine, so that its owner can wait for it to end.
	WG *sync.WaitGroup
}

// Queue is a bounded FIFO with an on-demand consumer. Its zero value is not usable: call Init.
// It is safe for concurrent use.
type Queue[T any] struct {
	cfg Config[T]

	mu      sync.Mutex
	ring    []T // the waiting items, from head, n of them (wrapping)
	head, n int
	size    int  // the total Size of the waiting items, the heavy one aside
	heavy   int  // the Size of the waiting item heavier than MaxSize, 0 if none
	peak    int  // the largest size+heavy reached
	busy    bool // the consumer is handling an item it took off the ring
	running bool // a consumer goroutine exists
	waiting bool // the consumer lingers on wake
	stopped bool
	final   func() // Stop's, run by the consumer
	wake    chan struct{}

	// The linger clock: a timer that ticks once a Linger period while a consumer runs. A tick
	// with nothing taken since the last ends the consumer. Not re-armed per item, and the consumer
	// waits on wake alone: a select on a timer's channel would add and remove the timer for every
	// wait.
	clock  *time.Timer
	run    uint64 // the consumer run the clock ticks for
	ticked bool   // the clock ticked and the consumer has not looked yet
	taken  bool   // the consumer took an item since its last look at the clock
}

// Init readies a zero Queue (one embedded in its owner saves an allocation).
func (q *Queue[T]) Init(cfg Config[T]) {
	q.cfg = cfg
	q.cfg.Limit = max(cfg.Limit, 1)
}

// Push queues v and starts the consumer if none runs. It reports false, queuing nothing, when
// Limit items are waiting, or when v would take their Size past MaxSize (Config.MaxSize). After Stop it drops v
// and reports true: a stopped queue is not full.
func (q *Queue[T]) Push(v T) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	sz := q.sizeOf(v)
	switch {
	case q.stopped:
		return true
	case q.n >= q.cfg.Limit:
		return false
	case sz > q.cfg.MaxSize && q.cfg.Size != nil:
		if q.heavy > 0 {
			return false
		}
		q.heavy = sz
	case q.size+sz > q.cfg.MaxSize && q.cfg.Size != nil:
		return false
	default:
		q.size += sz
	}
	q.peak = max(q.peak, q.size+q.heavy)
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = v
	q.n++
	q.kickLocked()
	return true
}

// grow doubles the ring (from minRing, up to Limit), keeping the items in order. q.mu is held.
func (q *Queue[T]) grow() {
	ring := make([]T, min(max(minRing, 2*len(q.ring)), q.cfg.Limit))
	for i := range q.n {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

// kickLocked gets the consumer going: wakes it if it lingers, starts it if there is none.
func (q *Queue[T]) kickLocked() {
	switch {
	case q.waiting:
		q.waiting = false
		q.wake <- struct{}{} // buffered: the one lingering consumer takes it
	case !q.running:
		q.running = true
		q.run++
		if q.wake == nil {
			q.wake = make(chan struct{}, 1)
		}
		if q.cfg.WG != nil {
			q.cfg.WG.Add(1)
		}
		go q.consume()
	}
}

// Limit is the bound Init set.
func (q *Queue[T]) Limit() int { return q.cfg.Limit }

// MaxSize is the weight bound Init set (0 without Size).
func (q *Queue[T]) MaxSize() int { return q.cfg.MaxSize }

// PeakSize is the largest total Size the waiting items reached.
func (q *Queue[T]) PeakSize() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.peak
}

func (q *Queue[T]) sizeOf(v T) int {
	if q.cfg.Size == nil {
		return 0
	}
	return q.cfg.Size(v)
}

// Pending is the number of items waiting or being handled.
func (q *Queue[T]) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.busy {
		return q.n + 1
	}
	return q.n
}

// Stop drops the waiting items and refuses new ones. final, if not nil, runs once on the consumer
// goroutine after the item being handled, if any (a consumer is started for it when none runs).
// Stop does not wait, so Handle may call it; only the first call counts.
func (q *Queue[T]) Stop(final func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	q.stopped, q.final = true, final
	q.ring, q.head, q.n, q.size, q.heavy = nil, 0, 0, 0, 0
	if final != nil || q.waiting {
		q.kickLocked()
	}
}

// consume handles items until the queue stays empty for Linger, or until Stop.
func (q *Queue[T]) consume() {
	if q.cfg.WG != nil {
		defer q.cfg.WG.Done()
	}
	q.mu.Lock()
	for {
		if q.stopped {
			final := q.final
			q.running, q.waiting, q.final = false, false, nil
			q.stopClockLocked()
			q.mu.Unlock()
			if final != nil {
				final()
			}
			return
		}
		if q.n == 0 {
			if len(q.ring) > keepRing {
				q.ring, q.head = nil, 0 // a burst is over: give its ring back
			}
			if q.cfg.Linger <= 0 || !q.lingerLocked() {
				break
			}
			q.waiting = true
			q.mu.Unlock()
			<-q.wake
			q.mu.Lock()
			continue
		}
		var zero T
		v := q.ring[q.head]
		q.ring[q.head] = zero // the ring must not keep a handled item reachable
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		if sz := q.sizeOf(v); sz > q.cfg.MaxSize {
			q.heavy = 0
		} else {
			q.size -= sz
		}
		q.busy, q.taken = true, true
		q.mu.Unlock()
		q.cfg.Handle(v)
		q.mu.Lock()
		q.busy = false
	}
	// Idle: the consumer ends and the queue holds nothing.
	q.running = false
	q.ring, q.head = nil, 0
	q.stopClockLocked()
	q.mu.Unlock()
}

// lingerLocked reports whether the idle consumer should wait for more: starts the clock on the
// first wait, and says no once a whole period passed without an item. q.mu is held.
func (q *Queue[T]) lingerLocked() bool {
	switch {
	case q.clock == nil:
		run := q.run
		q.clock = time.AfterFunc(q.cfg.Linger, func() { q.tick(run) })
		q.ticked, q.taken = false, false
	case q.ticked:
		if !q.taken {
			return false
		}
		q.ticked, q.taken = false, false
		q.clock.Reset(q.cfg.Linger)
	}
	return true
}

// tick is the clock's: it wakes a lingering consumer to look at it.
func (q *Queue[T]) tick(run uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if run != q.run || !q.running { // a tick of an ended run, late
		return
	}
	q.ticked = true
	if q.waiting {
		q.waiting = false
		q.wake <- struct{}{}
	}
}

// stopClockLocked drops the clock of a consumer that ends. q.mu is held.
func (q *Queue[T]) stopClockLocked() {
	if q.clock != nil {
		q.clock.Stop()
		q.clock = nil
	}
}
