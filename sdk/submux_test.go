package sdk

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin/proto"
)

// fakeMuxStream is the driver's side of a Subscriptions stream.
type fakeMuxStream struct {
	grpc.ClientStream
	sent   chan *proto.SubscriptionControl
	events chan *proto.SubscriptionEvent
	broken chan error
}

func (s *fakeMuxStream) Send(c *proto.SubscriptionControl) error { s.sent <- c; return nil }
func (s *fakeMuxStream) Recv() (*proto.SubscriptionEvent, error) {
	select {
	case ev := <-s.events:
		return ev, nil
	case err := <-s.broken:
		return nil, err
	}
}

// muxHost hands out the streams a test controls.
type muxHost struct {
	proto.HostClient
	streams chan *fakeMuxStream
}

func (h *muxHost) Subscriptions(context.Context, ...grpc.CallOption) (grpc.BidiStreamingClient[proto.SubscriptionControl, proto.SubscriptionEvent], error) {
	s := &fakeMuxStream{sent: make(chan *proto.SubscriptionControl, 16), events: make(chan *proto.SubscriptionEvent, 16), broken: make(chan error, 1)}
	h.streams <- s
	return s, nil
}

func recvWithin(t *testing.T, recv func() ([]byte, error)) ([]byte, error) {
	t.Helper()
	type r struct {
		v   []byte
		err error
	}
	c := make(chan r, 1)
	go func() { v, err := recv(); c <- r{v, err} }()
	select {
	case got := <-c:
		return got.v, got.err
	case <-time.After(10 * time.Second):
		t.Fatal("recv did not return")
		return nil, nil
	}
}

// The subscriptions of a process share one stream: values reach their subscription by id, an
// error event ends one subscription as an *Error, a cancelled subscription tells the host, and a
// broken stream ends them all (each opens again, on a new stream). A host without the stream
// (Unimplemented) is remembered: subscriptions then take streams of their own.
func TestSubscriptionsShareOneStream(t *testing.T) {
	t.Parallel()
	m := &subMux{rt: &driverRuntime{ctx: t.Context()}}
	host := &muxHost{streams: make(chan *fakeMuxStream, 4)}
	req := &proto.SubscribeRequest{FromModule: "mod-1", Target: &proto.Target{ModuleId: "mod-2"}, Name: "power"}
	ctx1, cancel1 := context.WithCancel(t.Context())
	recv1, err := m.open(ctx1, host, req)
	if err != nil {
		t.Fatal(err)
	}
	recv2, err := m.open(t.Context(), host, req)
	if err != nil {
		t.Fatal(err)
	}
	s := <-host.streams
	if len(host.streams) != 0 {
		t.Fatal("a second stream for the second subscription")
	}
	c1, c2 := <-s.sent, <-s.sent
	if c1.Id == c2.Id || c1.Subscribe == nil || c2.Subscribe == nil {
		t.Fatalf("opens %v %v", c1, c2)
	}
	s.events <- &proto.SubscriptionEvent{Id: c1.Id, Accepted: true}
	s.events <- &proto.SubscriptionEvent{Id: c2.Id, ValueJson: []byte("2")}
	s.events <- &proto.SubscriptionEvent{Id: c1.Id, ValueJson: []byte("1")}
	if v, err := recvWithin(t, recv1); err != nil || string(v) != "1" {
		t.Fatalf("subscription 1: %s %v", v, err)
	}
	if v, err := recvWithin(t, recv2); err != nil || string(v) != "2" {
		t.Fatalf("subscription 2: %s %v", v, err)
	}
	cancel1()
	if _, err := recvWithin(t, recv1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled subscription: %v", err)
	}
	if c := <-s.sent; c.Id != c1.Id || !c.Cancel {
		t.Fatalf("after the cancel the host got %v", c)
	}
	s.events <- &proto.SubscriptionEvent{Id: c2.Id, Error: "driver \"drv\" holds 1000 subscriptions", Code: 429, Class: "TooMany"}
	_, err = recvWithin(t, recv2)
	if e := limitError(err); e == nil || e.Code() != 429 || e.Class() != "TooMany" {
		t.Fatalf("refused subscription: %v, want an *Error 429 TooMany", err)
	}

	// A broken stream ends its subscriptions; the next opens a new one.
	recv3, err := m.open(t.Context(), host, req)
	if err != nil {
		t.Fatal(err)
	}
	<-s.sent
	s.broken <- status.Error(codes.Unavailable, "connection lost")
	if _, err := recvWithin(t, recv3); status.Code(err) != codes.Unavailable {
		t.Fatalf("on a broken stream: %v", err)
	}
	if _, err := m.open(t.Context(), host, req); err != nil {
		t.Fatal(err)
	}
	s2 := <-host.streams
	<-s2.sent
	s2.broken <- status.Error(codes.Unimplemented, "method Subscriptions not implemented")
	testutil.Eventually(t, 10*time.Second, "an older host remembered", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.unsupported
	})
	if _, err := m.open(t.Context(), host, req); !errors.Is(err, errMuxUnsupported) {
		t.Fatalf("open on an older host: %v", err)
	}
}
