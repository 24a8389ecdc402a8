package sdktest

import (
	"context"
	"encoding/json"
	"time"

	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk"
)

func (h *Harness) setDevice(d *Device) {
	h.mu.Lock()
	h.device = d
	h.mu.Unlock()
}

// Pending is an exec in flight (ExecAsync): the test plays the device while the driver waits.
type Pending struct {
	h    *Harness
	done chan struct{}
	res  Result
}

// ExecAsync calls fn with positional arguments without waiting for the result.
func (h *Harness) ExecAsync(fn string, args ...any) *Pending {
	h.t.Helper()
	if args == nil {
		args = []any{}
	}
	return h.execAsync(fn, h.argsJSON(args))
}

// execAsync calls fn with arguments as JSON text in a goroutine of its own.
func (h *Harness) execAsync(fn, args string) *Pending {
	c := &Pending{h: h, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		ctx, cancel := h.ctx()
		defer cancel()
		c.res = h.execErr(ctx, fn, args)
	}()
	return c
}

// Result waits for the call's result (at most Timeout).
func (c *Pending) Result() Result {
	c.h.t.Helper()
	select {
	case <-c.done:
		return c.res
	case <-time.After(Timeout):
		c.h.t.Fatalf("sdktest: exec did not return within %s", Timeout)
		return Result{}
	}
}

// Done reports whether the call has returned.
func (c *Pending) Done() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// execErr is ExecRaw without testing.T, for goroutines.
func (h *Harness) execErr(ctx context.Context, fn, args string) Result {
	resp, err := h.Client.Exec(ctx, protoExec(h.ModuleID(), fn, args, h.User))
	if err != nil {
		return Result{Code: 599, Err: &sdk.Error{Status: 599, Kind: "TransportError", Err: err}}
	}
	return result(resp)
}

// Settings replaces the settings of the module under test (an update, as the engine sends).
func (h *Harness) Settings(settings any) {
	h.t.Helper()
	h.mu.Lock()
	m := h.cur
	h.mu.Unlock()
	m.Settings = settings
	h.Update(m)
}

// TrySettings is Settings returning the driver's refusal (a value outside the declared settings
// type's range) rather than failing the test; refused, the module runs on as it was.
func (h *Harness) TrySettings(settings any) error {
	h.t.Helper()
	h.mu.Lock()
	m := h.cur
	h.mu.Unlock()
	m.Settings = settings
	return h.TryUpdate(m)
}

// applySaved emulates the engine's handling of SaveSetting: the key is replaced in the module's
// settings and an update is sent.
func (h *Harness) applySaved(s SavedSetting) {
	h.mu.Lock()
	m := h.cur
	closed := h.closer == nil
	h.mu.Unlock()
	if closed || s.ModuleID != m.ID {
		return
	}
	obj := map[string]json.RawMessage{}
	if m.Settings != nil {
		b, _ := json.Marshal(m.Settings)
		_ = json.Unmarshal(b, &obj)
	}
	obj[s.Name] = s.Value
	m.Settings = obj
	ctx, cancel := h.ctx()
	defer cancel()
	pm := h.protoModuleNoT(m)
	if _, err := h.Client.Update(ctx, startReq(pm)); err != nil {
		h.rt.Close() // nothing sensible to report to: the test will see the settings missing
	}
}

// Wait polls cond until it is true, failing the test after Timeout with what.
func (h *Harness) Wait(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("sdktest: %s: not true within %s", what, Timeout)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting for time to pass
	}
}

// WaitIdle waits until the module under test has nothing left to do but wait for time to
// pass or for the device: no function, scheduled job or connection hook (Handshake, OnConnect)
// running, no command running or ready to run, and every status it set delivered. Call it after
// answering a poll's last command and before advancing the clock, so the clock moves past a
// driver that has armed its next timers. It fails the test after Timeout, saying what is busy.
func (h *Harness) WaitIdle() {
	h.t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		busy := h.rt.Busy(h.ModuleID())
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("sdktest: the module is not idle after %s: %s", Timeout, busy)
		}
		time.Sleep(2 * time.Millisecond) // polling the module, not waiting for time to pass
	}
}

func (h *Harness) protoModuleNoT(m Module) *proto.Module { return h.protoModule(m) }

func protoExec(module, fn, args, user string) *proto.ExecRequest {
	return &proto.ExecRequest{ModuleId: module, Function: fn, ArgsJson: []byte(args), UserId: user, RequestId: "req-test"}
}

func startReq(m *proto.Module) *proto.StartRequest { return &proto.StartRequest{Module: m} }

// ExecAsyncNamed calls fn with named arguments without waiting for the result.
func (h *Harness) ExecAsyncNamed(fn string, args map[string]any) *Pending {
	h.t.Helper()
	return h.execAsync(fn, h.argsJSON(args))
}
