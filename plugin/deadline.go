package plugin

import (
	"context"
	"errors"
	"time"

	"github.com/placeos-go/engine/plugin/proto"
)

// An Exec carries its deadline as the request's timeout_ms, not as gRPC's own deadline
// (grpc-timeout). The host is the one timekeeper: when its deadline passes it cancels the call,
// and gRPC's cancellation (RST_STREAM) ends the call's context in the driver as surely as a
// local timer would. A gRPC deadline would make the driver's gRPC server start a timer of its
// own for every call, and each timer a Go process starts can wake a sleeping thread to look at
// it: measured with BenchmarkExecute (and a perf profile of the driver process) it cost the
// driver several µs of CPU per call, for a deadline the host enforces anyway. The driver still
// sees the deadline: its Exec context reports it (Deadline, and DeadlineExceeded from Err when
// the host gave up at it, in it and in every context derived from it), without a timer behind
// it.

// Exec calls the driver's Exec within ctx, on the Execs stream (execs.go) when the driver
// serves it: ctx's deadline goes to the driver as req.TimeoutMs (left as the caller set it when
// ctx has none), and ctx's end, deadline or cancellation, cancels the call. req is the caller's,
// handed over. Errors are gRPC statuses, as a unary call's.
func (c *Client) Exec(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(time.Until(dl).Milliseconds(), 1)
		ctx = noDeadline{ctx}
	}
	if c.execs != nil {
		return c.execs.exec(ctx, req)
	}
	return c.DriverClient.Exec(ctx, req)
}

// noDeadline is ctx with its deadline hidden from gRPC; it still ends when ctx does.
type noDeadline struct{ context.Context }

func (noDeadline) Deadline() (time.Time, bool) { return time.Time{}, false }

// withTimeoutMs is the driver's side: the context of an Exec, reporting the deadline its host
// sent in timeout_ms, and ending when the host cancels the call. A context whose gRPC deadline is
// set (an older host) is left as it is. stop, once the call has returned, ends it (if the host
// has not) and releases what it holds.
func withTimeoutMs(ctx context.Context, ms int64) (_ context.Context, stop func()) {
	if ms <= 0 {
		return ctx, func() {}
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	c := &execCtx{Context: ctx, dl: time.Now().Add(time.Duration(ms) * time.Millisecond), done: make(chan struct{})}
	release := context.AfterFunc(ctx, c.end)
	return c, func() {
		// The call is over: its context ends now, as gRPC's does when a handler returns, so
		// that what the driver left waiting on it stops.
		if release() {
			c.err = context.Canceled
			close(c.done)
		}
	}
}

// deadlineSlack is how close to the deadline the host's cancellation may arrive and still be
// the deadline: the driver's copy of it is the moment the call arrived plus timeout_ms, which
// is whole milliseconds, so the two clocks' deadlines differ by up to a millisecond and the
// transit of the call and of its cancellation.
const deadlineSlack = 5 * time.Millisecond

// execCtx reports dl as its deadline without a timer: it ends when the gRPC call's context does
// (the host cancels the call at dl, or when its caller goes away), and then says
// context.DeadlineExceeded if that was at the deadline, else context.Canceled. It has a done
// channel of its own so that contexts derived from it (the SDK derives one per call) take their
// error from it, not from the gRPC context underneath, which only knows it was cancelled.
type execCtx struct {
	context.Context
	dl   time.Time
	done chan struct{}
	err  error // set before done is closed
}

func (c *execCtx) end() {
	c.err = context.Canceled
	// The host says so on the Execs stream (a cancellation's deadline flag); a unary call's
	// RST_STREAM does not, and the clocks decide.
	if errors.Is(context.Cause(c.Context), context.DeadlineExceeded) || !time.Now().Before(c.dl.Add(-deadlineSlack)) {
		c.err = context.DeadlineExceeded
	}
	close(c.done)
}

func (c *execCtx) Deadline() (time.Time, bool) { return c.dl, true }
func (c *execCtx) Done() <-chan struct{}       { return c.done }

func (c *execCtx) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// AfterFunc lets a context derived from c be cancelled with c (context.WithCancel and its kin
// look for it) without a goroutine of its own for every derived context.
func (c *execCtx) AfterFunc(f func()) func() bool {
	return context.AfterFunc(c.Context, func() {
		<-c.done // c.end runs on the same event; its error is set before f looks
		f()
	})
}
