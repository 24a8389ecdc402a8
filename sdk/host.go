package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// Named passed as the only argument of Base.Exec sends the arguments by name.
type Named map[string]any

func (b *Base) host(ctx context.Context) (proto.HostClient, error) {
	if b.m == nil {
		return nil, ErrNoHost
	}
	return b.m.rt.hostClient(ctx)
}

func (b *Base) systemID() string {
	if sys, ok := b.ControlSystem(); ok {
		return sys.ID
	}
	return ""
}

// Exec calls fn on another module through the host, with the same routing and checks as a
// client call. The user id and request id of ctx (an exec context) travel with the call. A
// failure of the remote function (or of the engine's checks of the call) is returned as an
// *Error with the code and class the caller of a client route would get.
func (b *Base) Exec(ctx context.Context, t Target, fn string, args ...any) (json.RawMessage, error) {
	host, err := b.host(ctx)
	if err != nil {
		return nil, err
	}
	var payload any = args
	if len(args) == 1 {
		if n, ok := args[0].(Named); ok {
			payload = map[string]any(n)
		}
	}
	if args == nil {
		payload = []any{}
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: exec %s.%s: encode arguments: %w", ErrBadArguments, t, fn, err)
	}
	resp, err := host.Exec(ctx, &proto.HostExecRequest{
		FromModule: b.m.id, Target: t.proto(b.systemID()), Function: fn, ArgsJson: raw,
		UserId: UserID(ctx), RequestId: RequestID(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("exec %s.%s: %w", t, fn, err)
	}
	if err := execError(resp); err != nil {
		return nil, err
	}
	return resp.GetResultJson(), nil
}

// StatusOf reads status name of another module into v; found is false if it is not set.
func (b *Base) StatusOf(ctx context.Context, t Target, name string, v any) (bool, error) {
	host, err := b.host(ctx)
	if err != nil {
		return false, err
	}
	resp, err := host.GetStatus(ctx, &proto.GetStatusRequest{FromModule: b.m.id, Target: t.proto(b.systemID()), Name: name})
	if err != nil {
		return false, fmt.Errorf("status %s.%s: %w", t, name, err)
	}
	if !resp.GetFound() {
		return false, nil
	}
	if err := json.Unmarshal(resp.GetValueJson(), v); err != nil {
		return true, fmt.Errorf("status %s.%s: %w", t, name, err)
	}
	return true, nil
}

// Subscribe calls fn with the current value of status name of the target module (if set) and
// then with every change (JSON "null" when deleted). It lasts until cancel is called, ctx ends or
// the module stops; if the host's stream breaks meanwhile it is opened again. fn runs on one
// goroutine, one value at a time; the same value is not delivered twice in a row.
func (b *Base) Subscribe(ctx context.Context, t Target, name string, fn func(value json.RawMessage)) (cancel func()) {
	req := &proto.SubscribeRequest{Target: t.proto(b.systemID()), Name: name}
	var last json.RawMessage
	return b.stream(ctx, "subscribe "+t.String()+"."+name, func(ctx context.Context, host proto.HostClient) (func() ([]byte, error), error) {
		req.FromModule = b.m.id
		recv, err := b.m.rt.subs.open(ctx, host, req)
		if !errors.Is(err, errMuxUnsupported) {
			return recv, err
		}
		s, err := host.Subscribe(ctx, req)
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			v, err := s.Recv()
			return v.GetValueJson(), err
		}, nil
	}, func(v []byte) {
		if last != nil && bytes.Equal(last, v) {
			return
		}
		last = append(json.RawMessage(nil), v...)
		fn(last)
	})
}

// Publish sends message on a driver-to-driver channel (at most 64 KiB; each publish counts
// against the driver's call rate). A refusal is an *Error: 400 BadRequest for a bad channel name
// or too large a message, 429 TooMany over the rate.
func (b *Base) Publish(ctx context.Context, channel string, message []byte) error {
	host, err := b.host(ctx)
	if err != nil {
		return err
	}
	if _, err := host.Publish(ctx, &proto.PublishRequest{FromModule: b.m.id, Channel: channel, Message: message}); err != nil {
		return hostRefusal("publish "+channel, err)
	}
	return nil
}

// Monitor calls fn with every message published on channel, until cancel, ctx ends or the module
// stops.
func (b *Base) Monitor(ctx context.Context, channel string, fn func(message []byte)) (cancel func()) {
	return b.stream(ctx, "monitor "+channel, func(ctx context.Context, host proto.HostClient) (func() ([]byte, error), error) {
		s, err := host.Monitor(ctx, &proto.MonitorRequest{FromModule: b.m.id, Channel: channel})
		if err != nil {
			return nil, err
		}
		return func() ([]byte, error) {
			v, err := s.Recv()
			return v.GetMessage(), err
		}, nil
	}, fn)
}

// SaveSetting stores a setting in the module's own settings; it comes back as an update.
func (b *Base) SaveSetting(ctx context.Context, name string, value any) error {
	host, err := b.host(ctx)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("save setting %q: %w", name, err)
	}
	if _, err := host.SaveSetting(ctx, &proto.SaveSettingRequest{ModuleId: b.m.id, Name: name, ValueJson: raw}); err != nil {
		return hostRefusal(fmt.Sprintf("save setting %q", name), err)
	}
	return nil
}

// hostRefusal turns the engine's refusal of a host call, a gRPC status, into the *Error a
// refused Exec gets (the engine sends those in the answer with the class errkind gives them), so
// that a driver tells a refusal from a broken connection with errors.As, and a driver returning
// it gives its caller the same status: bad input (InvalidArgument: too large, not JSON, the
// module's settings full; the module's statuses full) is 400 BadRequest, a driver limit 429
// TooMany. Anything else (the host gone, a deadline) is returned wrapped as it is.
func hostRefusal(what string, err error) error {
	if e := limitError(err); e != nil {
		return &Error{Status: e.Status, Kind: e.Kind, Err: &refused{what + ": " + e.Err.Error(), err}}
	}
	if st, ok := status.FromError(err); ok && (st.Code() == codes.InvalidArgument || statusesFull(st)) {
		return &Error{Status: 400, Kind: "BadRequest", Err: &refused{what + ": " + st.Message(), err}}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// statusesFull is the engine refusing a status past its module's bound of statuses or bytes
// (core.StatusesFullReason): bad input of the driver, as a full module's settings are.
func statusesFull(st *status.Status) bool {
	return st.Code() == codes.ResourceExhausted && reason(st) == "STATUSES_FULL"
}

// reason is the engine's reason for a refusal (an errdetails.ErrorInfo), "" without one.
func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// refused is the message of a host refusal, without gRPC's "rpc error: code = …" prefix, that
// still unwraps to the gRPC status.
type refused struct {
	msg string
	st  error
}

func (r *refused) Error() string { return r.msg }
func (r *refused) Unwrap() error { return r.st }

// maxStreamBackoff is the longest wait before a broken stream is opened again.
const maxStreamBackoff = 5 * time.Second

// limitError is the engine refusing a subscription for a limit of the driver
// (--driver-max-subscriptions): the *Error a refused call would get (429 TooMany), or nil for any
// other failure. It comes as the subscriptions stream's event, or as a Subscribe stream's gRPC
// ResourceExhausted.
func limitError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		// The subscriptions stream's refusal (subMux).
		if e.Status == 429 && e.Kind == "TooMany" {
			return e
		}
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted || reason(st) != "DRIVER_LIMIT" { // core.LimitReason
		return nil
	}
	return &Error{Status: 429, Kind: "TooMany", Err: errors.New(st.Message())}
}

// stream keeps a server stream open for the life of the module (or ctx, or until cancel),
// re-opening it with backoff when it breaks.
func (b *Base) stream(ctx context.Context, what string,
	open func(context.Context, proto.HostClient) (func() ([]byte, error), error), deliver func([]byte)) func() {
	if b.m == nil {
		return func() {}
	}
	sctx, cancel := context.WithCancel(b.m.ctx)
	stopAfter := context.AfterFunc(ctx, cancel)
	b.Go(func(context.Context) {
		defer stopAfter()
		backoff := 100 * time.Millisecond
		refused := false
		for sctx.Err() == nil {
			host, err := b.m.rt.hostClient(sctx)
			if err != nil {
				return
			}
			recv, err := open(sctx, host)
			for err == nil {
				var v []byte
				if v, err = recv(); err == nil {
					backoff = 100 * time.Millisecond
					b.safeDeliver(what, deliver, v)
				}
			}
			if sctx.Err() != nil {
				return
			}
			if errors.Is(err, errMuxUnsupported) {
				continue // an older host: open a stream of its own at once
			}
			if lerr := limitError(err); lerr != nil {
				// The engine's limit on open subscriptions: wait the longest backoff for others
				// to end; said once at ERROR, the retries at DEBUG.
				if !refused {
					b.m.log.Error("the engine refused the subscription", "stream", what, "error", lerr)
				} else {
					b.m.log.Debug("the engine refused the subscription again", "stream", what)
				}
				refused, backoff = true, maxStreamBackoff
			} else {
				refused = false
				b.m.log.Warn("stream broke; reopening", "stream", what, "error", err, "backoff", backoff.String())
			}
			select {
			case <-time.After(backoff):
			case <-sctx.Done():
				return
			}
			backoff = min(backoff*2, maxStreamBackoff)
		}
	})
	return cancel
}

func (b *Base) safeDeliver(what string, deliver func([]byte), v []byte) {
	defer func() {
		if p := recover(); p != nil {
			b.m.log.Error("callback panicked", "stream", what, "panic", fmt.Sprint(p))
		}
	}()
	deliver(v)
}
