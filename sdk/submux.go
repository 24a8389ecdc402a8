package sdk

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// subQueue bounds the values waiting for one subscription's callback; past it the subscription
// is opened again (the current value comes anew), as the host does with a stream that falls
// behind.
const subQueue = 256

var (
	// errMuxUnsupported: the host has no Subscriptions stream (an older engine); subscriptions
	// then take a Subscribe stream each.
	errMuxUnsupported = errors.New("host has no subscriptions stream")
	errSubBehind      = errors.New("subscription fell behind")
)

// subMux carries the process's status subscriptions over one Host.Subscriptions stream, opened
// when the first is needed and again after it breaks: the host then holds no stream (nor
// goroutine) per subscription. Each subscription keeps its own goroutine here (Base.stream),
// which reads its values from a muxSub.
type subMux struct {
	rt *driverRuntime

	mu          sync.Mutex
	stream      proto.Host_SubscriptionsClient
	subs        map[uint64]*muxSub
	nextID      uint64
	unsupported bool

	sendMu sync.Mutex // a gRPC stream's Send is not safe for concurrent use
}

// muxSub is one subscription's values and end.
type muxSub struct {
	wake   chan struct{}
	mu     sync.Mutex
	values [][]byte
	err    error
}

func (s *muxSub) put(v []byte, err error) {
	s.mu.Lock()
	switch {
	case s.err != nil:
	case err != nil:
		s.err = err
	case len(s.values) >= subQueue:
		s.err, s.values = errSubBehind, nil
	default:
		s.values = append(s.values, v)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// open starts a subscription on the process's stream; recv returns its values until it ends
// (an error) or ctx ends, which cancels it. errMuxUnsupported says to use a Subscribe stream.
func (m *subMux) open(ctx context.Context, host proto.HostClient, req *proto.SubscribeRequest) (recv func() ([]byte, error), err error) {
	m.mu.Lock()
	if m.unsupported {
		m.mu.Unlock()
		return nil, errMuxUnsupported
	}
	if m.stream == nil {
		stream, err := host.Subscriptions(m.rt.ctx)
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		m.stream, m.subs = stream, map[uint64]*muxSub{}
		go m.receive(stream)
	}
	stream := m.stream
	m.nextID++
	id := m.nextID
	sub := &muxSub{wake: make(chan struct{}, 1)}
	m.subs[id] = sub
	m.mu.Unlock()

	if err := m.send(stream, &proto.SubscriptionControl{Id: id, Subscribe: req}); err != nil {
		m.drop(stream, id)
		return nil, err
	}
	return func() ([]byte, error) {
		for {
			sub.mu.Lock()
			if len(sub.values) > 0 {
				v := sub.values[0]
				sub.values[0] = nil
				sub.values = sub.values[1:]
				sub.mu.Unlock()
				return v, nil
			}
			err := sub.err
			sub.mu.Unlock()
			if err != nil {
				m.drop(stream, id)
				return nil, err
			}
			select {
			case <-sub.wake:
			case <-ctx.Done():
				m.drop(stream, id)
				return nil, ctx.Err()
			}
		}
	}, nil
}

func (m *subMux) send(stream proto.Host_SubscriptionsClient, c *proto.SubscriptionControl) error {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	return stream.Send(c)
}

// drop forgets subscription id and tells the host, if its stream still runs.
func (m *subMux) drop(stream proto.Host_SubscriptionsClient, id uint64) {
	m.mu.Lock()
	live := m.stream == stream
	_, open := m.subs[id]
	if live {
		delete(m.subs, id)
	}
	m.mu.Unlock()
	if live && open {
		_ = m.send(stream, &proto.SubscriptionControl{Id: id, Cancel: true})
	}
}

// receive hands the host's events to their subscriptions until the stream breaks, which ends
// every subscription on it (each opens again on a new stream).
func (m *subMux) receive(stream proto.Host_SubscriptionsClient) {
	for {
		ev, err := stream.Recv()
		if err != nil {
			m.mu.Lock()
			if m.stream == stream {
				m.stream = nil
			}
			if status.Code(err) == codes.Unimplemented {
				m.unsupported, err = true, errMuxUnsupported
			}
			subs := m.subs
			m.subs = map[uint64]*muxSub{}
			m.mu.Unlock()
			for _, s := range subs {
				s.put(nil, err)
			}
			return
		}
		m.mu.Lock()
		sub := m.subs[ev.Id]
		if sub != nil && ev.Error != "" {
			delete(m.subs, ev.Id) // the host ended it
		}
		m.mu.Unlock()
		switch {
		case sub == nil, ev.Accepted:
		case ev.Error != "":
			sub.put(nil, &Error{Status: int(ev.Code), Kind: ev.Class, Err: errors.New(ev.Error)})
		default:
			sub.put(ev.ValueJson, nil)
		}
	}
}
