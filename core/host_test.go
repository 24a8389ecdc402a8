package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin/proto"
)

// logicModel is roomModel with a logic module in sys-1.
const logicModel = `
drivers:
  - {id: drv-d, module_name: Display, role: device, binary: /bin/display}
  - {id: drv-room, module_name: Room, role: logic, binary: /bin/room}
modules:
  - {id: mod-1, driver_id: drv-d, running: true}
  - {id: mod-room, driver_id: drv-room, control_system_id: sys-1, running: true}
systems:
  - {id: sys-1, name: Room, modules: [mod-1, mod-room]}
`

// TestDriverCallActsForTheCallerItServes: a driver calling another module while it serves a
// user's execute acts with that user's clearance (on the same Execute path as clients); once the
// execute is over, or for a user it does not serve, the call is a plain user's; without a user it
// is the driver's own, which function security does not restrict.
func TestDriverCallActsForTheCallerItServes(t *testing.T) {
	t.Parallel()
	tc := runningRoom(t, nil)
	host := tc.Host()
	nested := make(chan *proto.ExecResponse, 1)
	tc.sup.exec = func(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
		if req.ModuleId == "mod-2" && req.Function == "input" {
			// mod-2 serves the client's call by calling mod-1's support function for the user.
			resp, err := host.Exec(ctx, &proto.HostExecRequest{FromModule: "mod-2", Target: &proto.Target{ModuleId: "mod-1"},
				Function: "reboot", UserId: req.UserId, RequestId: req.RequestId})
			if err != nil {
				return nil, err
			}
			nested <- resp
		}
		return &proto.ExecResponse{ResultJson: []byte("true"), Code: 200}, nil
	}
	serve := func(c auth.Caller) *proto.ExecResponse {
		t.Helper()
		if _, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: "mod-2"}, Function: "input",
			Args: json.RawMessage(`["hdmi", 1]`), Caller: c, RequestID: "rid-" + c.UserID}); err != nil {
			t.Fatal(err)
		}
		return <-nested
	}
	if resp := serve(user(auth.ClearanceSupport)); resp.Error != nil {
		t.Fatalf("support's call through a driver was refused: %v", resp.Error)
	}
	if resp := serve(user(auth.ClearanceUser)); resp.Error == nil || resp.Code != 403 || resp.Error.Class != "AccessDenied" {
		t.Fatalf("user's call through a driver: %+v", resp)
	}
	direct := func(userID, rid string) *proto.ExecResponse {
		resp, err := host.Exec(t.Context(), &proto.HostExecRequest{FromModule: "mod-2", Target: &proto.Target{ModuleId: "mod-1"},
			Function: "reboot", UserId: userID, RequestId: rid})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	// The support user's execute is over: the driver cannot keep their clearance.
	if resp := direct("u-support", "rid-u-support"); resp.Code != 403 {
		t.Fatalf("after the execute ended: %+v", resp)
	}
	// The driver's own call (a schedule, a reaction to a status).
	if resp := direct("", ""); resp.Error != nil || resp.Code != 200 {
		t.Fatalf("internal call: %+v", resp)
	}
	// Errors reach the calling driver with the class and code clients see.
	resp, err := host.Exec(t.Context(), &proto.HostExecRequest{FromModule: "mod-2", Target: &proto.Target{SystemId: "sys-1", Name: "Display", Index: 9}, Function: "power"})
	if err != nil || resp.Code != 404 || resp.Error.Class != "NotFound" {
		t.Fatalf("missing module: %+v %v", resp, err)
	}
}

// streamOf is a Host_SubscribeServer that collects what the host sends; a send waits for
// release, when set, like a gRPC send to a driver that does not read.
type streamOf struct {
	grpc.ServerStream
	ctx     context.Context
	sent    chan string
	release chan struct{}
}

func (s *streamOf) Context() context.Context     { return s.ctx }
func (s *streamOf) SendHeader(metadata.MD) error { return nil }
func (s *streamOf) Send(v *proto.StatusValue) error {
	if s.release != nil {
		<-s.release
	}
	select {
	case s.sent <- string(v.ValueJson):
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// TestDriverSubscriptionsGoThroughTheWatcher: a driver's subscription is a watch of the node's one
// subscription path, by module id or by place (in the calling module's own system by default),
// values streamed in order, and the watch ends with the stream.
func TestDriverSubscriptionsGoThroughTheWatcher(t *testing.T) {
	t.Parallel()
	w := &fakeWatcher{}
	tc := newTestCore(t, logicModel, func(c *Config) { c.Watcher = w })
	ctx, cancel := context.WithCancel(t.Context())
	stream := &streamOf{ctx: ctx, sent: make(chan string, 8)}
	done := make(chan error, 1)
	go func() {
		done <- tc.Host().Subscribe(&proto.SubscribeRequest{FromModule: "mod-room", Target: &proto.Target{Name: "Display", Index: 2}, Name: "power"}, stream)
	}()
	testutil.Eventually(t, 5*time.Second, "the watch", func() bool { ws, _, _ := w.snapshot(); return len(ws) == 1 })
	ws, fns, _ := w.snapshot()
	if ws[0] != "system sys-1 Display_2 power" {
		t.Fatalf("watch %q", ws[0])
	}
	for _, v := range []string{"true", "false", "null"} {
		fns[0]([]byte(v))
	}
	for _, want := range []string{"true", "false", "null"} {
		if got := <-stream.sent; got != want {
			t.Fatalf("sent %s, want %s", got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stream ended with %v", err)
	}
	if _, _, stopped := w.snapshot(); stopped != 1 {
		t.Fatalf("%d watches stopped, want 1", stopped)
	}

	// A subscriber that does not keep up is cut off (its SDK subscribes again), never buffered
	// without bound.
	slow := &streamOf{ctx: t.Context(), sent: make(chan string, subscribeQueue+2), release: make(chan struct{})}
	go func() {
		done <- tc.Host().Subscribe(&proto.SubscribeRequest{FromModule: "mod-room", Target: &proto.Target{ModuleId: "mod-1"}, Name: "power"}, slow)
	}()
	testutil.Eventually(t, 5*time.Second, "the second watch", func() bool { ws, _, _ := w.snapshot(); return len(ws) == 2 })
	ws, fns, _ = w.snapshot()
	if ws[1] != "module mod-1 power" {
		t.Fatalf("watch %q", ws[1])
	}
	for i := range subscribeQueue + 2 {
		fns[1]([]byte(fmt.Sprint(i)))
	}
	close(slow.release) // the send under way returns; the stream ends rather than sending stale values
	if err := <-done; !errors.Is(err, ErrSubscriberBehind) {
		t.Fatalf("slow subscriber: %v", err)
	}
	// A target naming nothing is refused.
	if err := tc.Host().Subscribe(&proto.SubscribeRequest{FromModule: "mod-1", Target: &proto.Target{Name: "Display"}, Name: "power"}, stream); !errors.Is(err, ErrBadTarget) {
		t.Fatalf("no system: %v", err)
	}
	if ws, _, _ := w.snapshot(); !slices.Equal(ws, []string{"system sys-1 Display_2 power", "module mod-1 power"}) {
		t.Fatalf("watches %q", ws)
	}
}

// TestStatusWritesOnlyFromTheHost: a status write from a module the placement gives to another
// node (its old instance stopping after a move) is dropped, so it cannot overwrite what the new
// instance set there; once the placement gives the module to this node, its writes go through.
func TestStatusWritesOnlyFromTheHost(t *testing.T) {
	t.Parallel()
	tc, elsewhere := twoNodes(t, &fakePeers{})
	host := tc.Host()
	set := func(mod, v string) {
		t.Helper()
		if _, err := host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: mod, Name: "connected", ValueJson: []byte(v)}); err != nil {
			t.Fatalf("set status of %s: %v", mod, err)
		}
	}
	status := func(mod string) (string, bool) {
		tc.state.mu.Lock()
		defer tc.state.mu.Unlock()
		v, ok := tc.state.status[mod]["connected"]
		return v, ok
	}
	set(elsewhere, "false")
	if v, ok := status(elsewhere); ok {
		t.Fatalf("a write for a module hosted on n2 reached the state store: %s", v)
	}
	// A start decided under an older ring does not clear what the owner set either.
	tc.OnModuleStart(t.Context(), elsewhere)
	tc.state.mu.Lock()
	cleared := slices.Clone(tc.state.cleared)
	tc.state.mu.Unlock()
	if slices.Contains(cleared, elsewhere) {
		t.Fatalf("a start of a module hosted on n2 cleared its status: %v", cleared)
	}
	var here string
	for i := range 20 {
		if id := fmt.Sprintf("mod-%d", i); id != elsewhere {
			if owner, _ := tc.Owner(id); owner == "n1" {
				here = id
				break
			}
		}
	}
	set(here, "true")
	if v, _ := status(here); v != "true" {
		t.Fatalf("a write for a module hosted here: %q", v)
	}
	// n2 goes down: its modules are this node's after the next pass, and so are their writes.
	cl := tc.cfg.Cluster.(*fakeCluster)
	cl.mu.Lock()
	cl.nodes[1].Up = false
	cl.epoch++
	cl.mu.Unlock()
	tc.reconcile(t.Context())
	set(elsewhere, "true")
	if v, _ := status(elsewhere); v != "true" {
		t.Fatalf("a write for a module this node took over: %q", v)
	}
	tc.OnModuleStart(t.Context(), elsewhere)
	tc.state.mu.Lock()
	defer tc.state.mu.Unlock()
	if !slices.Contains(tc.state.cleared, elsewhere) {
		t.Fatal("a new instance of a module this node owns did not clear its status")
	}
}
