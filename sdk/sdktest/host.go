package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// maxSettingSize is the engine's bound of one saved setting (core.MaxSettingSize).
const maxSettingSize = 64 << 10

// SystemID is the id of the one system the fake host knows.
const SystemID = "sys-test"

// LogLine is a debug line the driver forwarded to the host.
type LogLine struct {
	ModuleID, Level, Message string
}

// StatusChange is one SetStatus call the host received.
type StatusChange struct {
	ModuleID, Name string
	Value          json.RawMessage // "null" for a delete
}

// SavedSetting is a Base.SaveSetting call the host received.
type SavedSetting struct {
	ModuleID, Name string
	Value          json.RawMessage
}

// Host is the fake host: a proto.HostServer that keeps everything in memory.
type Host struct {
	proto.UnimplementedHostServer

	mu       sync.Mutex
	statuses map[string]map[string]json.RawMessage // module id -> status -> JSON
	changed  chan struct{}                         // closed and replaced on every status change
	subs     map[string][]chan json.RawMessage     // "module/status" -> subscribers
	monitors map[string][]chan []byte
	logs     []LogLine
	history  []StatusChange
	saved    []SavedSetting
	system   []entry // the system's modules, in order
	driver   func(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error)
	onSave   func(SavedSetting)
}

type entry struct {
	id, name string
	mock     *Mock // nil: a module of the driver under test
}

// NewHost returns an empty fake host.
func NewHost() *Host {
	return &Host{
		statuses: map[string]map[string]json.RawMessage{},
		changed:  make(chan struct{}),
		subs:     map[string][]chan json.RawMessage{},
		monitors: map[string][]chan []byte{},
	}
}

func (h *Host) addModule(e entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, x := range h.system {
		if x.id == e.id {
			return
		}
	}
	h.system = append(h.system, e)
}

// resolve finds a target's module id by id or by name and index in the system.
func (h *Host) resolve(t *proto.Target) (entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	idx := int(t.GetIndex())
	if idx == 0 {
		idx = 1
	}
	n := 0
	for _, e := range h.system {
		if t.GetModuleId() != "" {
			if e.id == t.GetModuleId() {
				return e, true
			}
			continue
		}
		if e.name == t.GetName() {
			n++
			if n == idx {
				return e, true
			}
		}
	}
	return entry{}, false
}

func (h *Host) setStatus(module, name string, value json.RawMessage, del bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.statuses[module]
	if st == nil {
		st = map[string]json.RawMessage{}
		h.statuses[module] = st
	}
	if del {
		delete(st, name)
		value = json.RawMessage("null")
	} else {
		var buf bytes.Buffer
		if json.Compact(&buf, value) == nil {
			value = buf.Bytes()
		}
		st[name] = value
	}
	h.history = append(h.history, StatusChange{module, name, value})
	for _, ch := range h.subs[module+"/"+name] {
		select {
		case ch <- value:
		default: // a test that never reads its subscription must not block the host
		}
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// Status returns the JSON of a module's status as the host has it.
func (h *Host) Status(module, name string) (json.RawMessage, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.statuses[module][name]
	return v, ok
}

// Statuses returns a copy of a module's statuses.
func (h *Host) Statuses(module string) map[string]json.RawMessage {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]json.RawMessage{}
	for k, v := range h.statuses[module] {
		out[k] = v
	}
	return out
}

// WaitStatus waits until status name of module encodes to the same JSON as want (want nil: the
// status is absent), or ctx ends.
func (h *Host) WaitStatus(ctx context.Context, module, name string, want any) error {
	var wantJSON []byte
	if want != nil {
		b, err := json.Marshal(want)
		if err != nil {
			return err
		}
		wantJSON = b
	}
	for {
		h.mu.Lock()
		got, ok := h.statuses[module][name]
		ch := h.changed
		h.mu.Unlock()
		if (want == nil && !ok) || (ok && bytes.Equal(got, wantJSON)) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if !ok {
				got = json.RawMessage("<unset>")
			}
			return fmt.Errorf("status %s.%s is %s, want %s: %w", module, name, got, wantJSON, ctx.Err())
		}
	}
}

// History returns every SetStatus call received so far, in order.
func (h *Host) History() []StatusChange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]StatusChange(nil), h.history...)
}

// WaitChange waits until a SetStatus of module's status name to want (nil: a delete) arrives
// after the first since calls of History, or ctx ends. Unlike WaitStatus it sees a value that
// has already been replaced, e.g. connected=false during a quick reconnect.
func (h *Host) WaitChange(ctx context.Context, module, name string, want any, since int) error {
	wantJSON := []byte("null")
	if want != nil {
		b, err := json.Marshal(want)
		if err != nil {
			return err
		}
		wantJSON = b
	}
	for {
		h.mu.Lock()
		hist := h.history[min(since, len(h.history)):]
		ch := h.changed
		for _, c := range hist {
			if c.ModuleID == module && c.Name == name && bytes.Equal(c.Value, wantJSON) {
				h.mu.Unlock()
				return nil
			}
		}
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("no change of %s.%s to %s: %w", module, name, wantJSON, ctx.Err())
		}
	}
}

// Logs returns the debug lines received so far.
func (h *Host) Logs() []LogLine {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]LogLine(nil), h.logs...)
}

// Saved returns the settings saved so far.
func (h *Host) Saved() []SavedSetting {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]SavedSetting(nil), h.saved...)
}

// SetStatus implements proto.HostServer.
func (h *Host) SetStatus(_ context.Context, r *proto.SetStatusRequest) (*proto.Empty, error) {
	h.setStatus(r.GetModuleId(), r.GetName(), r.GetValueJson(), r.GetDelete())
	return &proto.Empty{}, nil
}

// GetStatus implements proto.HostServer.
func (h *Host) GetStatus(_ context.Context, r *proto.GetStatusRequest) (*proto.GetStatusResponse, error) {
	e, ok := h.resolve(r.GetTarget())
	if !ok {
		return &proto.GetStatusResponse{}, nil
	}
	v, found := h.Status(e.id, r.GetName())
	return &proto.GetStatusResponse{ValueJson: v, Found: found}, nil
}

// Log implements proto.HostServer.
func (h *Host) Log(_ context.Context, r *proto.LogRequest) (*proto.Empty, error) {
	h.mu.Lock()
	h.logs = append(h.logs, LogLine{r.GetModuleId(), r.GetLevel(), r.GetMessage()})
	h.mu.Unlock()
	return &proto.Empty{}, nil
}

// Exec implements proto.HostServer: mock modules answer from their handlers, modules of the
// driver under test through the driver.
func (h *Host) Exec(ctx context.Context, r *proto.HostExecRequest) (*proto.ExecResponse, error) {
	e, ok := h.resolve(r.GetTarget())
	if !ok {
		return failure(404, "ModuleNotFound", fmt.Sprintf("module %v not found in %s", r.GetTarget(), SystemID)), nil
	}
	if e.mock != nil {
		return e.mock.exec(ctx, r), nil
	}
	h.mu.Lock()
	drv := h.driver
	h.mu.Unlock()
	return drv(ctx, &proto.ExecRequest{ModuleId: e.id, Function: r.GetFunction(), ArgsJson: r.GetArgsJson(),
		UserId: r.GetUserId(), RequestId: r.GetRequestId()})
}

// Subscribe implements proto.HostServer: the current value first, then every change.
func (h *Host) Subscribe(r *proto.SubscribeRequest, s grpc.ServerStreamingServer[proto.StatusValue]) error {
	e, ok := h.resolve(r.GetTarget())
	if !ok {
		return fmt.Errorf("sdktest: subscribe: module %v not found", r.GetTarget())
	}
	key := e.id + "/" + r.GetName()
	ch := make(chan json.RawMessage, 256)
	h.mu.Lock()
	cur, has := h.statuses[e.id][r.GetName()]
	h.subs[key] = append(h.subs[key], ch)
	h.mu.Unlock()
	defer h.unsubscribe(key, ch)
	if has {
		if err := s.Send(&proto.StatusValue{ValueJson: cur}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-s.Context().Done():
			return nil
		case v := <-ch:
			if err := s.Send(&proto.StatusValue{ValueJson: v}); err != nil {
				return err
			}
		}
	}
}

func (h *Host) unsubscribe(key string, ch chan json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	list := h.subs[key]
	for i, c := range list {
		if c == ch {
			h.subs[key] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// maxChannelMessage is the engine's bound on a published message (core.MaxChannelMessage).
const maxChannelMessage = 64 << 10

// Publish implements proto.HostServer, refusing too large a message as the engine does.
func (h *Host) Publish(_ context.Context, r *proto.PublishRequest) (*proto.Empty, error) {
	if len(r.GetMessage()) > maxChannelMessage {
		return nil, status.Errorf(codes.InvalidArgument, "a message on channel %q is %d bytes, more than the %d a driver may publish",
			r.GetChannel(), len(r.GetMessage()), maxChannelMessage)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.monitors[r.GetChannel()] {
		select {
		case ch <- r.GetMessage():
		default:
		}
	}
	return &proto.Empty{}, nil
}

// Monitor implements proto.HostServer.
func (h *Host) Monitor(r *proto.MonitorRequest, s grpc.ServerStreamingServer[proto.ChannelMessage]) error {
	ch := make(chan []byte, 256)
	h.mu.Lock()
	h.monitors[r.GetChannel()] = append(h.monitors[r.GetChannel()], ch)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		list := h.monitors[r.GetChannel()]
		for i, c := range list {
			if c == ch {
				h.monitors[r.GetChannel()] = append(list[:i:i], list[i+1:]...)
				break
			}
		}
	}()
	for {
		select {
		case <-s.Context().Done():
			return nil
		case m := <-ch:
			if err := s.Send(&proto.ChannelMessage{Message: m}); err != nil {
				return err
			}
		}
	}
}

// SaveSetting implements proto.HostServer.
func (h *Host) SaveSetting(_ context.Context, r *proto.SaveSettingRequest) (*proto.Empty, error) {
	// The engine's bounds of one value, with its status, so that a driver's handling of a refused
	// save is tested here too; its rate and the module's total are not simulated.
	if len(r.GetValueJson()) > maxSettingSize {
		return nil, status.Errorf(codes.InvalidArgument, "setting %q of module %q is %d bytes, more than the %d a driver may save",
			r.GetName(), r.GetModuleId(), len(r.GetValueJson()), maxSettingSize)
	}
	if !json.Valid(r.GetValueJson()) || !utf8.Valid(r.GetValueJson()) {
		return nil, status.Errorf(codes.InvalidArgument, "setting %q of module %q is not valid UTF-8 JSON", r.GetName(), r.GetModuleId())
	}
	h.mu.Lock()
	saved := SavedSetting{r.GetModuleId(), r.GetName(), r.GetValueJson()}
	h.saved = append(h.saved, saved)
	onSave := h.onSave
	h.mu.Unlock()
	if onSave != nil {
		// As in the engine, a saved setting comes back as an update; asynchronously, because
		// the driver may be saving from inside a hook that holds the module.
		go onSave(saved)
	}
	return &proto.Empty{}, nil
}

func failure(code int, class, msg string) *proto.ExecResponse {
	return &proto.ExecResponse{ResultJson: []byte("null"), Code: int32(code),
		Error: &proto.ExecError{Class: class, Message: msg}}
}
