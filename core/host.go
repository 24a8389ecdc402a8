package core

import (
	"context"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/metrics"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/state"
)

// Host is the callback service drivers call over the go-plugin broker. One Host serves every
// driver process of the node; each call names the calling module.
type Host struct {
	proto.UnimplementedHostServer
	c *Core
}

// Host returns the driver callback service of this node.
func (c *Core) Host() *Host { return &Host{c: c} }

// SetStatus writes a status of the calling module, within the module's bounds (MaxStatusSize,
// MaxStatuses, MaxStatusBytes; statusquota.go) and its status rate (Limits.StatusRate;
// statusgate.go): over the rate the write is kept and made later, and the driver is told it
// succeeded once the next write is due.
func (h *Host) SetStatus(ctx context.Context, req *proto.SetStatusRequest) (*proto.Empty, error) {
	var value []byte
	if err := call.CheckIdentifier("a status name", req.Name); err != nil {
		// A Redis hash field, a channel and a log field per name: bounded as a client's names are.
		return nil, status.Errorf(codes.InvalidArgument, "module %q: %v", req.ModuleId, err)
	}
	if !req.Delete {
		// A value over MaxStatusSize is refused by the gate, before its JSON is read.
		if len(req.ValueJson) <= MaxStatusSize {
			if err := checkValue(req.ValueJson, "status", req.Name, req.ModuleId); err != nil {
				return nil, err
			}
		}
		// JSON null deletes the status in the store (state.Store.SetStatus): counted as a delete.
		if !isJSONNull(req.ValueJson) {
			value = req.ValueJson
		}
	}
	res, refused, err := h.c.gates.set(ctx, h.c.cfg.Limits.StatusRate, req.ModuleId, req.Name, value, h.c.writeStatus)
	if refused != nil {
		return nil, h.c.statusRefused(req.ModuleId, refused)
	}
	if res.delayed {
		driver := h.c.driverOf(req.ModuleId)
		h.c.cfg.Metrics.DriverLimited(driver, metrics.DriverStatusDelayed)
		if res.coalesced {
			h.c.cfg.Metrics.DriverLimited(driver, metrics.DriverStatusCoalesced)
		}
		pace := time.NewTimer(res.pace)
		defer pace.Stop()
		select {
		case <-pace.C:
		case <-ctx.Done():
		}
	}
	return &proto.Empty{}, err
}

// writeStatus writes a module's status to the state store. Only the node that hosts a module
// writes its status (docs/protocol.md §3): when a module moves, its old instance stops here after
// the new one started on its new node, and what the old one sets while stopping (a driver
// disconnecting sets connected=false) would overwrite the new instance's values. So a write for a
// module the current placement gives to another node is dropped (the driver is told it
// succeeded). A delayed write is checked when it is made.
func (c *Core) writeStatus(ctx context.Context, moduleID, name string, value []byte) error {
	if owner, _ := c.Owner(moduleID); owner != c.cfg.NodeID {
		c.log.Debug("status write of a module hosted elsewhere dropped", "module", moduleID,
			"status", name, "owner", owner)
		return nil
	}
	// Deleted from the model: its keys are deleted once it stopped (forget.go), and what its old
	// instance sets while stopping must not make them again.
	if m, _ := c.cfg.Store.Model(); m.Modules[moduleID] == nil {
		c.log.Debug("status write of a module deleted from the model dropped", "module", moduleID, "status", name)
		return nil
	}
	// Bounded: a driver that sets a status inside a function waits for this, and a Redis that
	// does not answer (frozen, cut off) must not hold the call for the client's whole retry
	// budget. The value is kept either way and written back when Redis answers (state's share).
	wctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	_, err := c.cfg.State.SetStatus(wctx, moduleID, name, value)
	if err != nil && ctx.Err() == nil {
		c.log.Debug("status write failed", "module", moduleID, "status", name, "error", err)
	}
	return err
}

func (h *Host) GetStatus(ctx context.Context, req *proto.GetStatusRequest) (*proto.GetStatusResponse, error) {
	t, err := h.statusTarget(req.FromModule, req.Target, req.Name)
	if err != nil {
		return nil, err
	}
	id, err := h.c.Resolve(ctx, t)
	if err != nil {
		return nil, err
	}
	v, ok, err := h.c.cfg.State.StatusValue(ctx, id, req.Name)
	if err != nil {
		return nil, err
	}
	return &proto.GetStatusResponse{ValueJson: v, Found: ok}, nil
}

// Log receives a module's debug line. The supervisor fans these out to debug listeners before
// they reach here; the host log only keeps them at trace level.
func (h *Host) Log(_ context.Context, req *proto.LogRequest) (*proto.Empty, error) {
	h.c.log.Trace("driver log", "module", req.ModuleId, "level", req.Level, "message", req.Message)
	return &proto.Empty{}, nil
}

// Exec is a driver-to-driver call: the same Execute as a client's, for the caller the calling
// module is serving. Failures come back as an ExecResponse error, so that the calling driver can
// tell "the other module raised" from transport problems.
func (h *Host) Exec(ctx context.Context, req *proto.HostExecRequest) (*proto.ExecResponse, error) {
	t, err := h.target(req.FromModule, req.Target)
	if err == nil {
		err = h.c.takeCall(req.FromModule)
	}
	if err == nil {
		var res call.Result
		res, err = h.c.Execute(ctx, call.Request{
			Target: t, Function: req.Function, Args: req.ArgsJson, RequestID: req.RequestId,
			Caller: h.c.calls.callerOf(req.FromModule, req.RequestId, req.UserId),
		})
		if err == nil {
			return &proto.ExecResponse{ResultJson: res.Value, Code: int32(res.Code)}, nil
		}
	}
	p := errkind.Classify(err)
	var de *errkind.DriverError
	if errors.As(err, &de) {
		p.Message = de.Message // the class travels in its own field
	}
	var le *limitError
	if errors.As(err, &le) {
		p.RetryAfter = le.retryAfter
	}
	return &proto.ExecResponse{Code: int32(p.Status), Error: &proto.ExecError{Class: p.Class, Message: p.Message, Backtrace: p.Backtrace,
		RetryAfterMs: p.RetryAfter.Milliseconds()}}, nil
}

// ErrSubscriberBehind ends a driver's subscription that does not keep up; the SDK subscribes
// again and gets the current value.
var ErrSubscriberBehind = errkind.New(errkind.Unavailable, "subscriber fell behind")

// Subscribe streams a status value through the node's one subscription path (Config.Watcher):
// the current value first, then each change; after a Redis reconnect the value is read again. A
// target given by system and name follows the system: when its lookup changes, the stream moves
// to the module now at that place (null when the place empties or the module has no value).
func (h *Host) Subscribe(req *proto.SubscribeRequest, stream proto.Host_SubscribeServer) error {
	if h.c.cfg.Watcher == nil {
		return errkind.Wrap(errkind.Unavailable, nil, "status subscriptions are not available on this node")
	}
	ctx := stream.Context()
	t, err := h.statusTarget(req.FromModule, req.Target, req.Name)
	if err != nil {
		return err
	}
	release, err := h.c.openSubscription(req.FromModule)
	if err != nil {
		return err
	}
	defer release()
	q := newStreamQueue[[]byte](subscribeQueue)
	var cancel func()
	if t.ModuleID != "" {
		cancel, err = h.c.cfg.Watcher.WatchModule(ctx, t.ModuleID, req.Name, q.put)
	} else {
		cancel, err = h.c.cfg.Watcher.WatchSystem(ctx, t.SystemID, t.Name, t.Index, req.Name, q.put)
	}
	if err != nil {
		return err
	}
	defer cancel()
	// The header tells the driver the subscription was accepted (a refusal ends the stream
	// without one).
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	return q.drain(ctx, func(v []byte) error { return stream.Send(&proto.StatusValue{ValueJson: v}) })
}

// Monitor streams the messages published on a driver channel (publish.go) from now on.
func (h *Host) Monitor(req *proto.MonitorRequest, stream proto.Host_MonitorServer) error {
	ctx := stream.Context()
	if err := checkChannel(req.FromModule, req.Channel); err != nil {
		return err
	}
	release, err := h.c.openSubscription(req.FromModule)
	if err != nil {
		return err
	}
	defer release()
	q := newStreamQueue[[]byte](subscribeQueue)
	sub := h.c.cfg.State.Subscribe(ChannelPrefix+req.Channel, q.put, state.WithOnDrop(func(error) { q.fail() }))
	defer sub.Cancel()
	return q.drain(ctx, func(msg []byte) error { return stream.Send(&proto.ChannelMessage{Message: msg}) })
}

// SaveSetting writes a setting of the calling module into the model: a Raft write, replicated
// to every node and kept in each one's log and snapshots. So a value is at most MaxSettingSize,
// a driver saves at most Limits.SettingRate a second, and the module's settings grow to at most
// MaxSavedSettings keys and MaxSavedSettingsBytes (settingquota.go). A key the module's settings
// protect is saved at that level, sealed (savesetting.go).
func (h *Host) SaveSetting(ctx context.Context, req *proto.SaveSettingRequest) (*proto.Empty, error) {
	if req.Name == "" || len(req.Name) > maxSettingName || !utf8.ValidString(req.Name) {
		return nil, status.Errorf(codes.InvalidArgument, "a setting name of module %q must be 1 to %d bytes of UTF-8", req.ModuleId, maxSettingName)
	}
	if len(req.ValueJson) > MaxSettingSize {
		return nil, status.Errorf(codes.InvalidArgument, "setting %q of module %q is %d bytes, more than the %d a driver may save",
			req.Name, req.ModuleId, len(req.ValueJson), MaxSettingSize)
	}
	if err := checkValue(req.ValueJson, "setting", req.Name, req.ModuleId); err != nil {
		return nil, err
	}
	if err := h.c.takeSave(req.ModuleId); err != nil {
		return nil, err
	}
	value, err := storedForm(req.ValueJson)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "setting %q of module %q: %v", req.Name, req.ModuleId, err)
	}
	unlock, err := h.c.saves.lock(ctx, req.ModuleId)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := h.c.saveSetting(ctx, req.ModuleId, req.Name, value); err != nil {
		return nil, err
	}
	return &proto.Empty{}, nil
}

// checkValue refuses a driver's value that is not JSON, or not UTF-8: json.Valid passes invalid
// UTF-8 inside strings, and such a value would break every WebSocket text frame it is sent in.
func checkValue(v []byte, what, name, moduleID string) error {
	if !json.Valid(v) {
		return status.Errorf(codes.InvalidArgument, "%s %q of module %q is not valid JSON", what, name, moduleID)
	}
	if !utf8.Valid(v) {
		return status.Errorf(codes.InvalidArgument, "%s %q of module %q is not valid UTF-8", what, name, moduleID)
	}
	return nil
}

// statusTarget is target for a status a driver reads or subscribes to, refusing a target or
// status name that breaks call.CheckIdentifier: each distinct name subscribed to is a Redis
// subscription, as for a client.
func (h *Host) statusTarget(from string, pt *proto.Target, name string) (call.Target, error) {
	t, err := h.target(from, pt)
	if err == nil {
		err = checkTarget(t)
	}
	if err == nil {
		err = call.CheckIdentifier("the status name", name)
	}
	return t, err
}

// target reads the module a driver names: by id, or by name and index in a system (the calling
// module's own system when none is given).
func (h *Host) target(from string, t *proto.Target) (call.Target, error) {
	if t == nil {
		return call.Target{}, ErrBadTarget
	}
	if t.ModuleId != "" {
		return call.Target{ModuleID: t.ModuleId}, nil
	}
	sys := t.SystemId
	if sys == "" {
		m, _ := h.c.cfg.Store.Model()
		if mod := m.Modules[from]; mod != nil {
			sys = mod.ControlSystemID
		}
	}
	if sys == "" || t.Name == "" {
		return call.Target{}, errkind.Wrap(ErrBadTarget, nil, "module %q named no module by id, and neither a system and module name", from)
	}
	return call.Target{SystemID: sys, Name: t.Name, Index: max(int(t.Index), 1)}, nil
}
