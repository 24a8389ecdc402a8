package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
//
// The worker runs only while there is something to send: a push finds none running and starts
// one, which exits once the queue is empty. An idle module (most of them, most of the time: a
// node may host thousands) holds no goroutine for its statuses.
type outbox struct {
	m    *module
	quit chan struct{} // closed by close: a worker stops retrying and a new one is not started

	// guarded by m.statusMu
	pending []statusUpdate
	index   map[string]int
	queued  uint64
	sent    uint64
	advance chan struct{} // closed whenever sent grows
	worker  chan struct{} // the running worker's, closed when it exits; nil while none runs
	closed  bool
	refused error     // the engine's last refusal of a status since Flush took the one before
	logged  time.Time // the last refusal logged
	// accepted is the last value of each status the engine took: what it goes on holding when
	// it refuses a newer one (the same slices as the module's statuses, so it costs map entries).
	accepted map[string]json.RawMessage
}

func newOutbox(m *module) *outbox {
	return &outbox{m: m, quit: make(chan struct{}), advance: make(chan struct{})}
}

// push queues an update; the caller holds m.statusMu.
func (o *outbox) push(u statusUpdate) {
	o.queued++
	if i, ok := o.index[u.name]; ok && len(o.pending) >= coalesceAt {
		o.pending[i] = u
	} else {
		if o.index == nil {
			o.index = map[string]int{}
		}
		o.index[u.name] = len(o.pending)
		o.pending = append(o.pending, u)
	}
	if o.worker == nil && !o.closed {
		o.worker = make(chan struct{})
		go o.run(o.worker)
	}
}

// flush waits until every update queued before the call has been sent (or ctx ends, or the
// worker had to give up: the module was unloaded before the host took them).
func (o *outbox) flush(ctx context.Context) error {
	o.m.statusMu.Lock()
	target := o.queued
	for o.sent < target {
		ch, worker := o.advance, o.worker
		o.m.statusMu.Unlock()
		if worker == nil {
			return ErrStopped // queued, and nobody to send it: the outbox is closed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-worker:
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
	o.m.statusMu.Lock()
	o.closed = true
	worker := o.worker
	o.m.statusMu.Unlock()
	close(o.quit)
	if worker != nil {
		<-worker
	}
}

// run sends the queued updates until none is left, then exits (done closed). It waits for the
// host first: a module may set statuses before the host is connected.
func (o *outbox) run(done chan struct{}) {
	defer close(done)
	host, ok := o.host()
	for {
		o.m.statusMu.Lock()
		batch, target := o.pending, o.queued
		if len(batch) == 0 || !ok {
			o.worker = nil // a later push starts another
			o.m.statusMu.Unlock()
			return
		}
		o.pending, o.index = nil, nil
		o.m.statusMu.Unlock()
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

// host waits for the host's callback client; false when the outbox or the runtime closed first.
func (o *outbox) host() (proto.HostClient, bool) {
	r := o.m.rt
	select {
	case <-r.hostReady:
		r.hostMu.RLock()
		defer r.hostMu.RUnlock()
		return r.host, true
	case <-o.quit:
	case <-r.ctx.Done():
	}
	return nil, false
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
			o.took(u)
			return
		}
		var refusal *Error
		if err := hostRefusal(fmt.Sprintf("set status %q", u.name), err); errors.As(err, &refusal) {
			o.refuse(u, refusal) // asking again gets the same answer
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

// refuseLogEvery spaces the ERROR lines of a module's refused statuses.
const refuseLogEvery = time.Minute

// took records that the engine holds u.
func (o *outbox) took(u statusUpdate) {
	o.m.statusMu.Lock()
	defer o.m.statusMu.Unlock()
	if u.del {
		delete(o.accepted, u.name)
		return
	}
	if o.accepted == nil {
		o.accepted = map[string]json.RawMessage{}
	}
	o.accepted[u.name] = u.value
}

// refuse records the engine's refusal of u for Flush and, unless a newer value replaced u's,
// goes back to the value the engine still holds (none when it took none): Status reports what
// the engine's readers see, and setting the refused value again asks the engine again.
func (o *outbox) refuse(u statusUpdate, err *Error) {
	o.m.statusMu.Lock()
	if v, ok := o.m.status[u.name]; ok && bytes.Equal(v, u.value) {
		if held, ok := o.accepted[u.name]; ok {
			o.m.status[u.name] = held
		} else {
			delete(o.m.status, u.name)
		}
	}
	o.refused = err
	now := time.Now()
	log := now.Sub(o.logged) >= refuseLogEvery
	if log {
		o.logged = now
	}
	o.m.statusMu.Unlock()
	if log {
		o.m.log.Error("the engine refused a status (further refusals are not logged for a minute)", "status", u.name, "error", err)
	}
}

// takeRefusal is the refusal recorded since the last call, nil if none.
func (o *outbox) takeRefusal() error {
	o.m.statusMu.Lock()
	defer o.m.statusMu.Unlock()
	err := o.refused
	o.refused = nil
	return err
}
