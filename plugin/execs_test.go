package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// hang bounds how long a call that should end at its deadline of a few hundred milliseconds may
// take before the test calls it hung: generous, for a loaded machine.
const hang = 10 * time.Second

// execResult is what a call made in a goroutine came back with.
type execResult struct {
	resp *proto.ExecResponse
	err  error
}

func goExec(ctx context.Context, dc *plugin.Client, req *proto.ExecRequest) <-chan execResult {
	out := make(chan execResult, 1)
	go func() {
		resp, err := dc.Exec(ctx, req)
		out <- execResult{resp, err}
	}()
	return out
}

func within(t *testing.T, what string, ch <-chan execResult) execResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hang):
		t.Fatalf("%s did not return within %s", what, hang)
		return execResult{}
	}
}

// A driver that froze after its Execs stream ended does not answer the next stream's opening:
// the call opening it waits within its own deadline, and every other call ends at its own,
// not at the opener's (or when the probe kills the process).
func TestExecsOpeningHoldsNoOtherCall(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connectDriver(t, frozen)
	close(drv.gate) // the first stream ends

	// A call with a long deadline opens the next stream, which is never answered (it may first
	// find the ended stream not yet forgotten, and fail at once: it tries again).
	long, stopLong := context.WithCancel(context.Background())
	opener := make(chan struct{})
	go func() {
		defer close(opener)
		for long.Err() == nil {
			_, _ = dc.Exec(long, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo"})
		}
	}()
	t.Cleanup(func() { stopLong(); <-opener })
	testutil.Eventually(t, hang, "a second Execs stream", func() bool {
		drv.mu.Lock()
		defer drv.mu.Unlock()
		return drv.streams >= 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := within(t, "a call of 200 ms while another opens the stream", goExec(ctx, dc, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo"}))
	if status.Code(r.err) != codes.DeadlineExceeded {
		t.Fatalf("the call: %v, want DeadlineExceeded", r.err)
	}
}

// A request over the limit fails alone also when it is only the Execs stream's framing (its id)
// that takes it over: gRPC's SendMsg would end the stream, and every call on it, for it.
func TestExecsRequestOverTheLimitByItsFraming(t *testing.T) {
	t.Parallel()
	dc, _, _ := connect(t)
	ctx := context.Background()
	slow := goExec(ctx, dc, &proto.ExecRequest{ModuleId: "mod-1", Function: "slow", ArgsJson: []byte(`["slow"]`)})

	req := &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: make([]byte, plugin.MaxMessageSize-100)}
	req.ArgsJson = make([]byte, len(req.ArgsJson)+plugin.MaxMessageSize-gproto.Size(req))
	if n := gproto.Size(req); n != plugin.MaxMessageSize {
		t.Fatalf("request of %d bytes, want %d", n, plugin.MaxMessageSize)
	}
	if n := gproto.Size(&proto.ExecCall{Id: math.MaxUint64, Request: req}); n <= plugin.MaxMessageSize {
		t.Fatalf("the call on the stream is %d bytes, not over the limit", n)
	}
	if _, err := dc.Exec(ctx, req); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a request at the limit, over it with its id: %v, want ResourceExhausted", err)
	}
	if r := within(t, "the slow call", slow); r.err != nil || string(r.resp.GetResultJson()) != `["slow"]` {
		t.Errorf("a call in flight meanwhile: %v %v", r.resp, r.err)
	}
}

// A driver that answers ids it was never asked, answers a call twice, answers with neither a
// response nor a status, or ends its side of the stream, gives no caller another's answer: each
// call gets its own, an empty answer is an Internal error, the stream's end fails the calls on
// it with Unavailable, and the next call opens a new stream.
func TestExecsRogueDriver(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connectDriver(t, rogue)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var calls []<-chan execResult
	for i := range 200 {
		calls = append(calls, goExec(ctx, dc, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(fmt.Sprintf(`[%d]`, i))}))
	}
	for i, ch := range calls {
		r := within(t, "a call", ch)
		if want := fmt.Sprintf(`[%d]`, i); r.err != nil || string(r.resp.GetResultJson()) != want {
			t.Fatalf("call %d: %v %v, want %s", i, r.resp, r.err, want)
		}
	}
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "empty"}); status.Code(err) != codes.Internal {
		t.Errorf("an answer with neither response nor status: %v, want Internal", err)
	}
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "close"}); status.Code(err) != codes.Unavailable {
		t.Errorf("a call whose stream the driver ended: %v, want Unavailable", err)
	}
	testutil.Eventually(t, hang, "a call on a new stream", func() bool {
		resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`["again"]`)})
		return err == nil && string(resp.ResultJson) == `["again"]`
	})
	drv.mu.Lock()
	defer drv.mu.Unlock()
	if drv.streams != 2 {
		t.Errorf("%d Execs streams, want 2", drv.streams)
	}
}

// The driver's context of a call the host gave up at its deadline ends with DeadlineExceeded
// also when the request reached the driver late (the driver counts timeout_ms from the
// request's arrival, so by its own clock the cancellation comes early): the cancellation says
// why.
func TestExecsDeadlineOfALateRequest(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connectDriver(t, late)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "wait"}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("host: %v, want DeadlineExceeded", err)
	}
	if w := drv.lastWait(t); !errors.Is(w.err, context.DeadlineExceeded) || !errors.Is(w.derivedErr, context.DeadlineExceeded) {
		t.Fatalf("the driver's context ended with %v, one derived from it with %v; want DeadlineExceeded", w.err, w.derivedErr)
	}

	// A caller that goes away before its deadline is still Canceled.
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	time.AfterFunc(200*time.Millisecond, cancel)
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "wait"}); status.Code(err) != codes.Canceled {
		t.Fatalf("host: %v, want Canceled", err)
	}
	if w := drv.lastWait(t); !errors.Is(w.err, context.Canceled) {
		t.Fatalf("the driver's context of a call its caller left ended with %v, want Canceled", w.err)
	}
}
