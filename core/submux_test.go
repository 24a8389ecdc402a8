package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin/proto"
)

// muxStream is the host's side of a Subscriptions stream: controls in, events out.
type muxStream struct {
	grpc.ServerStream
	ctx    context.Context
	in     chan *proto.SubscriptionControl
	events chan *proto.SubscriptionEvent
}

func (s *muxStream) Context() context.Context { return s.ctx }
func (s *muxStream) Send(ev *proto.SubscriptionEvent) error {
	select {
	case s.events <- ev:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}
func (s *muxStream) Recv() (*proto.SubscriptionControl, error) {
	select {
	case c, ok := <-s.in:
		if !ok {
			return nil, io.EOF
		}
		return c, nil
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

func (s *muxStream) next(t *testing.T) *proto.SubscriptionEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
		return nil
	}
}

// TestSubscriptionsStream: one stream carries many subscriptions, by id: each is accepted, then
// delivers its watch's values; a cancel ends its watch only; a target naming nothing, a reused
// id and a subscription past the driver's maximum are refused by an error event (429 TooMany for
// the limit) without ending the stream; the stream's end stops every watch and counts them down.
func TestSubscriptionsStream(t *testing.T) {
	t.Parallel()
	w := &fakeWatcher{}
	tc := newTestCore(t, logicModel, func(c *Config) { c.Watcher = w; c.Limits.MaxSubscriptions = 2 })
	ctx, cancel := context.WithCancel(t.Context())
	s := &muxStream{ctx: ctx, in: make(chan *proto.SubscriptionControl), events: make(chan *proto.SubscriptionEvent, 16)}
	done := make(chan error, 1)
	go func() { done <- tc.Host().Subscriptions(s) }()
	open := func(id uint64, target *proto.Target) {
		s.in <- &proto.SubscriptionControl{Id: id, Subscribe: &proto.SubscribeRequest{FromModule: "mod-room", Target: target, Name: "power"}}
	}
	open(1, &proto.Target{Name: "Display", Index: 2})
	if ev := s.next(t); ev.Id != 1 || !ev.Accepted {
		t.Fatalf("first event %v, want 1 accepted", ev)
	}
	open(2, &proto.Target{ModuleId: "mod-1"})
	if ev := s.next(t); ev.Id != 2 || !ev.Accepted {
		t.Fatalf("second event %v, want 2 accepted", ev)
	}
	ws, fns, _ := w.snapshot()
	if len(ws) != 2 || ws[0] != "system sys-1 Display_2 power" || ws[1] != "module mod-1 power" {
		t.Fatalf("watches %q", ws)
	}
	fns[1]([]byte("true"))
	fns[0]([]byte("false"))
	if a, b := s.next(t), s.next(t); a.Id != 2 || string(a.ValueJson) != "true" || b.Id != 1 || string(b.ValueJson) != "false" {
		t.Fatalf("values %v %v", a, b)
	}

	for _, c := range []struct {
		id     uint64
		target *proto.Target
		code   int32
		class  string
	}{
		{3, &proto.Target{ModuleId: "mod-2"}, 429, "TooMany"}, // the driver holds 2
		{1, &proto.Target{ModuleId: "mod-2"}, 400, "BadRequest"},
	} {
		open(c.id, c.target)
		if ev := s.next(t); ev.Id != c.id || ev.Code != c.code || ev.Class != c.class || ev.Error == "" {
			t.Fatalf("subscription %d: %v, want %d %s", c.id, ev, c.code, c.class)
		}
	}
	s.in <- &proto.SubscriptionControl{Id: 2, Cancel: true}
	testutil.Eventually(t, 5*time.Second, "subscription 2 ended", func() bool { _, _, n := w.snapshot(); return n == 1 })
	open(4, &proto.Target{SystemId: "sys-1"}) // no module name: names nothing
	if ev := s.next(t); ev.Id != 4 || ev.Code != 400 {
		t.Fatalf("a target naming nothing: %v", ev)
	}
	open(5, &proto.Target{ModuleId: "mod-2"}) // room again after the cancel
	if ev := s.next(t); ev.Id != 5 || !ev.Accepted {
		t.Fatalf("after a cancel: %v", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stream ended with %v", err)
	}
	if _, _, n := w.snapshot(); n != 3 {
		t.Fatalf("%d watches stopped, want all 3", n)
	}
	if n := tc.quotas.subs["drv-room"]; n != 0 {
		t.Fatalf("driver still counted with %d subscriptions", n)
	}
}

// A driver that does not read its Subscriptions stream has it ended once muxQueue events wait
// (its SDK opens a new one and subscribes again), rather than the host buffering without bound;
// the stream's end stops its watches.
func TestSubscriptionsStreamBehind(t *testing.T) {
	t.Parallel()
	w := &fakeWatcher{}
	tc := newTestCore(t, logicModel, func(c *Config) { c.Watcher = w })
	// Events has room for the accepted event only: the host's Send then blocks, as on a driver
	// that stopped reading.
	s := &muxStream{ctx: t.Context(), in: make(chan *proto.SubscriptionControl), events: make(chan *proto.SubscriptionEvent, 1)}
	done := make(chan error, 1)
	go func() { done <- tc.Host().Subscriptions(s) }()
	s.in <- &proto.SubscriptionControl{Id: 1, Subscribe: &proto.SubscribeRequest{FromModule: "mod-room", Target: &proto.Target{ModuleId: "mod-1"}, Name: "power"}}
	testutil.Eventually(t, 5*time.Second, "the watch", func() bool { ws, _, _ := w.snapshot(); return len(ws) == 1 })
	_, fns, _ := w.snapshot()
	for i := range muxQueue + 2 {
		fns[0]([]byte(fmt.Sprint(i)))
	}
	<-s.events // the accepted event; the send under way returns and the overflow ends the stream
	for {
		select {
		case err := <-done:
			if !errors.Is(err, ErrSubscriberBehind) {
				t.Fatalf("a driver that does not read: %v", err)
			}
			if _, _, n := w.snapshot(); n != 1 {
				t.Fatalf("%d watches stopped, want 1", n)
			}
			return
		case <-s.events: // values sent before the overflow was seen
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not end")
		}
	}
}
