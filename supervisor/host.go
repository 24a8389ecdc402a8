package supervisor

import (
	"context"
	"strings"

	"github.com/placeos-go/engine/plugin/proto"
)

// hostServer is the Host service every driver process calls back into, through its process's
// guardedHost. It serves Log itself, fanning lines out to the module's debug listeners, and
// passes everything else to the engine's.
type hostServer struct {
	proto.HostServer
	s *Supervisor
}

func (h *hostServer) Log(_ context.Context, r *proto.LogRequest) (*proto.Empty, error) {
	h.s.dmu.RLock()
	fns := make([]func(level, msg string), 0, len(h.s.debug[r.ModuleId]))
	for _, fn := range h.s.debug[r.ModuleId] {
		fns = append(fns, fn)
	}
	h.s.dmu.RUnlock()
	if len(fns) == 0 {
		return &proto.Empty{}, nil
	}
	// Every module's values, whichever module the driver says the line is about (see pumpStderr).
	msg := h.s.scrub("", r.Message)
	level := debugLevel(r.Level)
	for _, fn := range fns {
		fn(level, msg)
	}
	return &proto.Empty{}, nil
}

// debugLevel is the level of a debug line as the protocol names it (trace, debug, info, warn or
// error; docs/protocol.md §5.4), lower case; info for anything else. The driver fills it, and it
// goes to every watcher beside the scrubbed message: as written, it could carry a protected
// value, or megabytes.
func debugLevel(level string) string {
	switch l := strings.ToLower(level); l {
	case "trace", "debug", "info", "warn", "error":
		return l
	case "warning":
		return "warn"
	}
	return "info"
}

// listenerKey identifies one Debug listener; it must not be zero-sized, or every new(listenerKey)
// could share one address.
type listenerKey struct{ _ byte }

func (s *Supervisor) hasListeners(moduleID string) bool {
	s.dmu.RLock()
	defer s.dmu.RUnlock()
	return len(s.debug[moduleID]) > 0
}

// Debug registers fn for moduleID's log lines and returns the function that removes it. The
// first listener turns forwarding on in the driver, the last one off; forwarding is re-enabled
// after a restart while listeners remain, and is turned on when the module starts later.
// fn runs on the driver's gRPC callback and must not block: hand the line to a queue.
func (s *Supervisor) Debug(moduleID string, fn func(level, msg string)) (cancel func()) {
	key := new(listenerKey)
	s.dmu.Lock()
	if s.debug[moduleID] == nil {
		s.debug[moduleID] = map[*listenerKey]func(string, string){}
	}
	s.debug[moduleID][key] = fn
	first := len(s.debug[moduleID]) == 1
	s.dmu.Unlock()
	if first {
		s.syncDebug(moduleID)
	}
	var done bool
	return func() {
		s.dmu.Lock()
		if done {
			s.dmu.Unlock()
			return
		}
		done = true
		delete(s.debug[moduleID], key)
		last := len(s.debug[moduleID]) == 0
		if last {
			delete(s.debug, moduleID)
		}
		s.dmu.Unlock()
		if last {
			s.syncDebug(moduleID)
		}
	}
}

// syncDebug makes the driver's forwarding match whether moduleID has listeners now. It reads
// the wish under the module's op lock, so racing first/last listeners end in the right state.
func (s *Supervisor) syncDebug(moduleID string) {
	s.mu.Lock()
	m := s.modules[moduleID]
	s.mu.Unlock()
	if m == nil {
		return // startOn enables it when the module starts
	}
	m.op.Lock()
	defer m.op.Unlock()
	s.mu.Lock()
	p := m.d.proc
	ready := m.d.ready
	s.mu.Unlock()
	if p == nil || !ready || m.gen != p.gen {
		return // the restart re-enables it
	}
	ctx, cancel := context.WithTimeout(p.ctx, s.cfg.ProbeTimeout)
	defer cancel()
	var err error
	if s.hasListeners(moduleID) {
		_, err = p.rpc.Debug(ctx, &proto.ModuleRequest{ModuleId: moduleID})
	} else {
		_, err = p.rpc.Ignore(ctx, &proto.ModuleRequest{ModuleId: moduleID})
	}
	if err != nil {
		m.d.log.Warn("cannot toggle debug forwarding", "module", moduleID, "error", err)
	}
}
