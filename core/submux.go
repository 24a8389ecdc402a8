package core

import (
	"context"
	"fmt"
	"sync"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
)

// muxQueue bounds the events waiting for a driver's Subscriptions stream, all its subscriptions
// together; a driver that lets it fill has the stream ended (it opens a new one and subscribes
// again, as after Subscribe's ErrSubscriberBehind).
const muxQueue = 16 * subscribeQueue

// Subscriptions serves every status subscription of a driver process on one stream; each
// delivers what a Subscribe stream does. A Subscribe stream holds a goroutine (its handler) and
// gRPC's per-stream buffers for as long as it is open, about 12 KiB; here the stream's handler
// sends for all of them, one goroutine reads the driver's opens and cancels, and a subscription
// is its watch and a map entry.
func (h *Host) Subscriptions(stream proto.Host_SubscriptionsServer) error {
	if h.c.cfg.Watcher == nil {
		return errkind.Wrap(errkind.Unavailable, nil, "status subscriptions are not available on this node")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	m := &subMux{h: h, q: newStreamQueue[*proto.SubscriptionEvent](muxQueue), subs: map[uint64]func(){}}
	defer m.close()
	go func() {
		// Recv fails once the stream ends (the driver closed it, or this handler returned).
		for {
			c, err := stream.Recv()
			if err != nil {
				cancel()
				return
			}
			switch {
			case c.Cancel:
				m.cancel(c.Id)
			case c.Subscribe != nil:
				m.open(ctx, c.Id, c.Subscribe)
			}
		}
	}()
	return m.q.drain(ctx, stream.Send)
}

// subMux is the subscriptions of one Subscriptions stream.
type subMux struct {
	h *Host
	q *streamQueue[*proto.SubscriptionEvent]

	mu     sync.Mutex
	subs   map[uint64]func() // by id: ends the watch and counts the subscription down
	closed bool
}

// open starts subscription id: accepted, then its values; or an error event that ends it.
func (m *subMux) open(ctx context.Context, id uint64, req *proto.SubscribeRequest) {
	m.mu.Lock()
	_, dup := m.subs[id]
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return
	}
	if dup {
		m.refuse(id, errkind.Wrap(errkind.BadRequest, nil, "subscription %d is already open on this stream", id))
		return
	}
	t, err := m.h.statusTarget(req.FromModule, req.Target, req.Name)
	if err != nil {
		m.refuse(id, err)
		return
	}
	release, err := m.h.c.openSubscription(req.FromModule)
	if err != nil {
		m.refuse(id, err)
		return
	}
	// Accepted goes first: the watch may deliver the current value before Watch* returns.
	m.q.put(&proto.SubscriptionEvent{Id: id, Accepted: true})
	put := func(v []byte) { m.q.put(&proto.SubscriptionEvent{Id: id, ValueJson: v}) }
	var stop func()
	if t.ModuleID != "" {
		stop, err = m.h.c.cfg.Watcher.WatchModule(ctx, t.ModuleID, req.Name, put)
	} else {
		stop, err = m.h.c.cfg.Watcher.WatchSystem(ctx, t.SystemID, t.Name, t.Index, req.Name, put)
	}
	if err != nil {
		release()
		m.refuse(id, err)
		return
	}
	end := func() { stop(); release() }
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		end()
		return
	}
	m.subs[id] = end
	m.mu.Unlock()
}

// refuse ends subscription id with err, as the driver's call would have failed.
func (m *subMux) refuse(id uint64, err error) {
	p := errkind.Classify(err)
	msg := p.Message
	if p.Internal {
		m.h.c.log.Error("subscription failed", "id", id, "error", err)
		msg = fmt.Sprintf("subscription %d failed", id)
	}
	m.q.put(&proto.SubscriptionEvent{Id: id, Error: msg, Code: int32(p.Status), Class: p.Class})
}

func (m *subMux) cancel(id uint64) {
	m.mu.Lock()
	end := m.subs[id]
	delete(m.subs, id)
	m.mu.Unlock()
	if end != nil {
		end()
	}
}

// close ends every subscription of the stream.
func (m *subMux) close() {
	m.mu.Lock()
	m.closed = true
	subs := m.subs
	m.subs = nil
	m.mu.Unlock()
	for _, end := range subs {
		end()
	}
}
