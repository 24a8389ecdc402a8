package sdk

import (
	"context"
	"encoding/json"
	"time"

	"github.com/placeos-go/engine/plugin/proto"
)

// coalesceAt is the queue length from which waiting changes of the same key are merged.
const coalesceAt = 1024

// statusUpdate is one pending SetStatus call.
type statusUpdate struct {
	name  string
	value json.RawMessage
	del   bool
}

// outbox carries a module's status changes to the host in order. Set never blocks on the host:
// changes queue here (also before the host is connected) and a worker sends them. Every change
// travels (a quick connected false -> true is seen by listeners), except under pressure: once
// coalesceAt changes are waiting, a new change of a key still waiting replaces the waiting value,
// which bounds the queue by the number of distinct keys.
type outbox struct {
	m    *module
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	// guarded by m.statusMu
	pending []statusUpdate
	index   map[string]int
	queued  uint64
	sent    uint64
	advance chan struct{} // closed whenever sent grows
}

func newOutbox(m *module) *outbox {
	o := &outbox{
		m: m, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		index: map[string]int{}, advance: make(chan struct{}),
	}
	go o.run()
	return o
}

// push queues an update; the caller holds m.statusMu.
func (o *outbox) push(u statusUpdate) {
	o.queued++
	if i, ok := o.index[u.name]; ok && len(o.pending) >= coalesceAt {
		o.pending[i] = u
	} else {
		o.index[u.name] = len(o.pending)
		o.pending = append(o.pending, u)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// flush waits until every update queued before the call has been sent (or ctx ends).
func (o *outbox) flush(ctx context.Context) error {
	o.m.statusMu.Lock()
	target := o.queued
	for o.sent < target {
		ch := o.advance
		o.m.statusMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-o.done:
			return ErrStopped
		}
		o.m.statusMu.Lock()
	}
	o.m.statusMu.Unlock()
	return nil
}

// close sends what is pending (bounded by ctx) and stops the worker.
func (o *outbox) close(ctx context.Context) {
	if err := o.flush(ctx); err != nil {
		o.m.log.Warn("status changes not delivered before unload", "error", err)
	}
	close(o.quit)
	<-o.done
}

func (o *outbox) run() {
	defer close(o.done)
	host, err := o.m.rt.hostClient(ctxFromChan(o.quit))
	if err != nil {
		return
	}
	for {
		select {
		case <-o.quit:
			return
		case <-o.wake:
		}
		for {
			o.m.statusMu.Lock()
			batch, target := o.pending, o.queued
			o.pending, o.index = nil, map[string]int{}
			o.m.statusMu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, u := range batch {
				o.send(host, u)
			}
			o.m.statusMu.Lock()
			o.sent = target
			close(o.advance)
			o.advance = make(chan struct{})
			o.m.statusMu.Unlock()
		}
	}
}

// send retries briefly: a host that is restarting a connection should not lose a status, but a
// host that refuses one must not stall every later change.
func (o *outbox) send(host proto.HostClient, u statusUpdate) {
	req := &proto.SetStatusRequest{ModuleId: o.m.id, Name: u.name, ValueJson: u.value, Delete: u.del}
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), hostCallTimeout)
		_, err := host.SetStatus(ctx, req)
		cancel()
		if err == nil {
			return
		}
		if attempt == 4 {
			o.m.log.Error("status not delivered to host", "status", u.name, "error", err)
			return
		}
		select {
		case <-time.After(backoff):
		case <-o.quit:
			return
		}
		backoff *= 2
	}
}

// ctxFromChan is a context that ends when ch closes.
func ctxFromChan(ch <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-ch
		cancel()
	}()
	return ctx
}
