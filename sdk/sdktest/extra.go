package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/plugin/proto"
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
	b, err := json.Marshal(args)
	if err != nil {
		h.t.Fatalf("sdktest: encode args: %v", err)
	}
	c := &Pending{h: h, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		ctx, cancel := h.ctx()
		defer cancel()
		c.res = h.execErr(ctx, fn, string(b))
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
		return Result{Code: 599, Err: protoErr("TransportError", err.Error())}
	}
	return Result{Value: resp.GetResultJson(), Code: int(resp.GetCode()), Err: resp.GetError()}
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

// LogEntry is one log line of the driver (any level at or above debug).
type LogEntry struct {
	Level   string
	Message string
	Fields  map[string]any
}

// String is "level: message k=v ...".
func (e LogEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.Level, e.Message)
	for k, v := range e.Fields {
		fmt.Fprintf(&b, " %s=%v", k, v)
	}
	return b.String()
}

type logCapture struct {
	mu      sync.Mutex
	entries []LogEntry
	changed chan struct{}
}

func (c *logCapture) add(p []byte) {
	var raw map[string]any
	if json.Unmarshal(p, &raw) != nil {
		return
	}
	e := LogEntry{Fields: map[string]any{}}
	for k, v := range raw {
		switch k {
		case "@level":
			e.Level, _ = v.(string)
		case "@message":
			e.Message, _ = v.(string)
		case "@timestamp", "@module":
		default:
			e.Fields[k] = v
		}
	}
	c.mu.Lock()
	c.entries = append(c.entries, e)
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Logs returns the driver's log lines so far (every module, debug and above).
func (h *Harness) Logs() []LogEntry {
	h.logs.mu.Lock()
	defer h.logs.mu.Unlock()
	return append([]LogEntry(nil), h.logs.entries...)
}

// WaitLog waits until a log line whose message contains substr appears, and returns it.
func (h *Harness) WaitLog(substr string) LogEntry {
	h.t.Helper()
	deadline := time.NewTimer(Timeout)
	defer deadline.Stop()
	for {
		h.logs.mu.Lock()
		for _, e := range h.logs.entries {
			if strings.Contains(e.Message, substr) {
				h.logs.mu.Unlock()
				return e
			}
		}
		ch := h.logs.changed
		h.logs.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			h.t.Fatalf("sdktest: no log line containing %q within %s", substr, Timeout)
		}
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

func (h *Harness) protoModuleNoT(m Module) *proto.Module { return h.protoModule(m) }

func protoExec(module, fn, args, user string) *proto.ExecRequest {
	return &proto.ExecRequest{ModuleId: module, Function: fn, ArgsJson: []byte(args), UserId: user, RequestId: "req-test"}
}

func protoErr(class, msg string) *proto.ExecError {
	return &proto.ExecError{Class: class, Message: msg}
}

func startReq(m *proto.Module) *proto.StartRequest { return &proto.StartRequest{Module: m} }

// ExecAsyncNamed calls fn with named arguments without waiting for the result.
func (h *Harness) ExecAsyncNamed(fn string, args map[string]any) *Pending {
	h.t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		h.t.Fatalf("sdktest: encode args: %v", err)
	}
	c := &Pending{h: h, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		ctx, cancel := h.ctx()
		defer cancel()
		c.res = h.execErr(ctx, fn, string(b))
	}()
	return c
}
