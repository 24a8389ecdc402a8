package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/placeos-go/engine/errkind"
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

var nullJSON = []byte("null")

func (h *Host) SetStatus(ctx context.Context, req *proto.SetStatusRequest) (*proto.Empty, error) {
	var value []byte
	if !req.Delete {
		if !json.Valid(req.ValueJson) {
			return nil, fmt.Errorf("status %q of module %q is not valid JSON", req.Name, req.ModuleId)
		}
		value = req.ValueJson
	}
	_, err := h.c.cfg.State.SetStatus(ctx, req.ModuleId, req.Name, value)
	return &proto.Empty{}, err
}

func (h *Host) GetStatus(ctx context.Context, req *proto.GetStatusRequest) (*proto.GetStatusResponse, error) {
	id, err := h.resolve(ctx, req.FromModule, req.Target)
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

// Exec is a driver-to-driver call: the same path as a client's execute. Failures come back as an
// ExecResponse error so the calling driver can tell "the other module raised" from transport
// problems.
func (h *Host) Exec(ctx context.Context, req *proto.HostExecRequest) (*proto.ExecResponse, error) {
	id, err := h.resolve(ctx, req.FromModule, req.Target)
	if err == nil && h.c.cfg.Authorize != nil {
		err = h.c.cfg.Authorize(ctx, req.UserId, id, req.Function)
	}
	if err == nil {
		var result json.RawMessage
		var code int
		result, code, err = h.c.Exec(ctx, id, req.Function, req.ArgsJson, req.UserId, req.RequestId)
		if err == nil {
			return &proto.ExecResponse{ResultJson: result, Code: int32(code)}, nil
		}
	}
	var de *errkind.DriverError
	if errors.As(err, &de) {
		return &proto.ExecResponse{Code: int32(de.Code), Error: &proto.ExecError{Class: de.Class, Message: de.Message, Backtrace: de.Backtrace}}, nil
	}
	class, code := classify(err)
	return &proto.ExecResponse{Code: int32(code), Error: &proto.ExecError{Class: class, Message: err.Error()}}, nil
}

// classify names an engine error for a driver. It mirrors the HTTP mapping of PROTOCOL §6.
func classify(err error) (string, int) {
	switch {
	case errors.Is(err, errkind.NotFound):
		return "NotFound", 404
	case errors.Is(err, errkind.BadRequest):
		return "BadRequest", 400
	case errors.Is(err, errkind.Forbidden):
		return "AccessDenied", 403
	case errors.Is(err, errkind.Unavailable):
		return "Unavailable", 503
	case errors.Is(err, errkind.Timeout), errors.Is(err, context.DeadlineExceeded):
		return "Timeout", 504
	default:
		return "UnexpectedFailure", 500
	}
}

// Subscribe streams a status value: the current value first, then each change. A target given by
// system and name follows the system: when its lookup changes, the stream switches to the module
// now at that place and sends its current value (null when it has none or the place is empty).
func (h *Host) Subscribe(req *proto.SubscribeRequest, stream proto.Host_SubscribeServer) error {
	ctx := stream.Context()
	st := h.c.cfg.State
	send := func(v []byte) error { return stream.Send(&proto.StatusValue{ValueJson: v}) }
	events, deliver, dropped, onDrop := eventLoop(ctx)

	indirect := req.Target.GetModuleId() == ""
	var system string
	if indirect {
		system = h.systemOf(req.FromModule, req.Target)
		// Listen for lookup changes before resolving, so a change in between is not missed.
		lookups := st.Subscribe(state.LookupChangeChannel, func(msg []byte) {
			if string(msg) == system {
				deliver(nil)
			}
		}, onDrop)
		defer lookups.Cancel()
		if err := lookups.Wait(ctx); err != nil {
			return err
		}
	}

	var moduleID string
	var sub *state.Subscription
	defer func() {
		if sub != nil {
			sub.Cancel()
		}
	}()
	follow := func(first bool) error {
		id, err := h.resolve(ctx, req.FromModule, req.Target)
		if err != nil {
			id = "" // not (yet) in the system: deliver once it is added
		}
		if !first && id == moduleID {
			return nil
		}
		if sub != nil {
			sub.Cancel()
			sub = nil
		}
		moduleID = id
		if id == "" {
			if first {
				return nil
			}
			return send(nullJSON)
		}
		// Listen first, then read: a change between the two arrives as an event, so none is lost.
		sub = st.Subscribe(state.StatusChannel(id, req.Name), func(msg []byte) {
			deliver(func() error { return send(msg) })
		}, onDrop)
		if err := sub.Wait(ctx); err != nil {
			return err
		}
		v, ok, err := st.StatusValue(ctx, id, req.Name)
		switch {
		case err != nil:
			return err
		case ok:
			return send(v)
		case !first:
			return send(nullJSON)
		}
		return nil
	}
	if err := follow(true); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-dropped:
			return err
		case fn := <-events:
			if fn == nil {
				fn = func() error { return follow(false) }
			}
			if err := fn(); err != nil {
				return err
			}
		}
	}
}

// eventLoop hands work from fan-out callbacks (which run on the state package's goroutines) to
// the stream's own goroutine, where all sending happens. A listener that falls behind is dropped
// by state; dropped then ends the stream and the driver's SDK subscribes again.
func eventLoop(ctx context.Context) (<-chan func() error, func(func() error), <-chan error, state.SubOption) {
	events := make(chan func() error)
	deliver := func(fn func() error) {
		select {
		case events <- fn:
		case <-ctx.Done():
		}
	}
	dropped := make(chan error, 1)
	onDrop := state.WithOnDrop(func(err error) {
		select {
		case dropped <- err:
		default:
		}
	})
	return events, deliver, dropped, onDrop
}

func (h *Host) Publish(ctx context.Context, req *proto.PublishRequest) (*proto.Empty, error) {
	return &proto.Empty{}, h.c.cfg.State.Publish(ctx, req.Channel, req.Message)
}

// Monitor streams the messages published on a channel from now on.
func (h *Host) Monitor(req *proto.MonitorRequest, stream proto.Host_MonitorServer) error {
	ctx := stream.Context()
	events, deliver, dropped, onDrop := eventLoop(ctx)
	sub := h.c.cfg.State.Subscribe(req.Channel, func(msg []byte) {
		deliver(func() error { return stream.Send(&proto.ChannelMessage{Message: msg}) })
	}, onDrop)
	defer sub.Cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-dropped:
			return err
		case fn := <-events:
			if err := fn(); err != nil {
				return err
			}
		}
	}
}

func (h *Host) SaveSetting(ctx context.Context, req *proto.SaveSettingRequest) (*proto.Empty, error) {
	return &proto.Empty{}, h.c.cfg.Store.SaveSetting(ctx, req.ModuleId, req.Name, req.ValueJson)
}

// resolve finds the module a driver names: by id, or by name and index in a system (the calling
// module's own system when none is given).
func (h *Host) resolve(ctx context.Context, from string, t *proto.Target) (string, error) {
	if t == nil {
		return "", ErrBadTarget
	}
	if t.ModuleId != "" {
		return t.ModuleId, nil
	}
	sys := h.systemOf(from, t)
	if sys == "" || t.Name == "" {
		return "", fmt.Errorf("%w (module %q)", ErrBadTarget, from)
	}
	return h.c.Resolve(ctx, sys, t.Name, int(t.Index))
}

// systemOf is the system a target names, defaulting to the calling module's own system.
func (h *Host) systemOf(from string, t *proto.Target) string {
	if t.GetSystemId() != "" {
		return t.SystemId
	}
	m, _ := h.c.cfg.Store.Model()
	if mod := m.Modules[from]; mod != nil {
		return mod.ControlSystemID
	}
	return ""
}
