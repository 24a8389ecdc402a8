package plugin

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/placeos-go/engine/plugin/proto"
)

// An Exec carries its deadline as the request's timeout_ms, not as gRPC's own deadline
// (grpc-timeout). The host is the one timekeeper: when its deadline passes it cancels the call,
// and gRPC's cancellation (RST_STREAM) ends the call's context in the driver as surely as a
// local timer would. A gRPC deadline would make the driver's gRPC server start a timer of its
// own for every call, and each timer a Go process starts can wake a sleeping thread to look at
// it: measured with BenchmarkExecute (and a perf profile of the driver process) it cost the
// driver several µs of CPU per call, for a deadline the host enforces anyway. The driver still
// sees the deadline: its Exec context reports it (Deadline, and DeadlineExceeded from Err once
// it has passed), without a timer behind it.

// Exec calls the driver's Exec within ctx: ctx's deadline goes to the driver as req.TimeoutMs
// (left as the caller set it when ctx has none), and ctx's end, deadline or cancellation,
// cancels the call. req is the caller's, handed over.
func (c *Client) Exec(ctx context.Context, req *proto.ExecRequest, opts ...grpc.CallOption) (*proto.ExecResponse, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(time.Until(dl).Milliseconds(), 1)
		ctx = noDeadline{ctx}
	}
	return c.DriverClient.Exec(ctx, req, opts...)
}

// noDeadline is ctx with its deadline hidden from gRPC; it still ends when ctx does.
type noDeadline struct{ context.Context }

func (noDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// withTimeoutMs is the driver's side: the context of an Exec, reporting the deadline its host
// sent in timeout_ms. It ends when the host cancels the call; a context whose gRPC deadline
// is set (an older host) is left as it is.
func withTimeoutMs(ctx context.Context, ms int64) context.Context {
	if ms <= 0 {
		return ctx
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx
	}
	return deadlineView{Context: ctx, dl: time.Now().Add(time.Duration(ms) * time.Millisecond)}
}

// deadlineView reports dl as its deadline without a timer: it ends when its parent does (the host
// cancels the call at dl), and says why as a timed-out context would.
type deadlineView struct {
	context.Context
	dl time.Time
}

func (d deadlineView) Deadline() (time.Time, bool) { return d.dl, true }

func (d deadlineView) Err() error {
	err := d.Context.Err()
	if err != nil && !time.Now().Before(d.dl) {
		return context.DeadlineExceeded
	}
	return err
}
