package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/jsonscan"
	"github.com/placeos-go/engine/metrics"
)

// debugAttachTimeout bounds attaching a debug stream, which may mean dialling another node.
const debugAttachTimeout = 10 * time.Second

// bindCheckTimeout bounds the look-up of a bind's system (the reader waits for it).
const bindCheckTimeout = 5 * time.Second

// bind: success with meta, then the current value once, then every change (docs/protocol.md §7).
func (ss *wsSession) bind(req *wsRequest) {
	if !auth.ModuleAllowed(req.Mod, ss.caller.Clearance) {
		ss.replyError(req, errkind.Wrap(ErrAccessDenied, nil, "attempted to access protected module %s", req.Mod), "")
		return
	}
	if ss.s.cfg.Watcher == nil {
		ss.replyError(req, errkind.Wrap(ErrUnavailable, nil, "failed to bind: status subscriptions are not available"), "")
		return
	}
	key := bindKey{req.Sys, req.Mod, req.Index, req.Name}
	ss.mu.Lock()
	_, dup := ss.binds[key]
	full := len(ss.binds) >= ss.s.cfg.WSMaxBinds
	ss.mu.Unlock()
	switch {
	case dup:
		// Rebinding answers success again; the original binding (and its id) keeps delivering.
		ss.reply(wsReply{ID: req.ID, Type: "success", Meta: req.meta})
		return
	case full:
		ss.refuseOverLimit(req, metrics.WSLimitBinds, ss.s.cfg.WSMaxBinds, "bindings")
		return
	}
	if err := ss.systemExists(req); err != nil {
		ss.replyError(req, err, "")
		return
	}
	// Commands other than exec run on the reader goroutine, one at a time: nothing bound the
	// key or filled the session since the check above.
	b := &wsBinding{head: ss.s.acquireHead(req.ID, req.meta)}
	ss.mu.Lock()
	if ss.binds == nil {
		ss.binds = map[bindKey]*wsBinding{}
	}
	ss.binds[key] = b
	ss.mu.Unlock()
	ss.s.cfg.Metrics.AddWSBindings(1)

	cancel, err := ss.s.cfg.Watcher.WatchSystem(ss.ctx, req.Sys, req.Mod, req.Index, req.Name, func(v []byte) {
		msg := b.head.notify(ss, v)
		b.mu.Lock()
		defer b.mu.Unlock()
		if !b.ready {
			b.early = append(b.early, msg)
			return
		}
		ss.enqueue(msg)
	})
	if err != nil {
		ss.mu.Lock()
		delete(ss.binds, key)
		ss.mu.Unlock()
		ss.release(b)
		ss.log.Warn("bind failed", "system", req.Sys, "module_name", req.Mod, "index", req.Index, "status", req.Name, "error", err)
		ss.reply(errorReply(req.ID, errkind.CodeUnexpectedFailure, http.StatusInternalServerError, "failed to bind"))
		return
	}
	b.cancel = cancel
	ss.reply(wsReply{ID: req.ID, Type: "success", Meta: req.meta})
	b.mu.Lock()
	for _, m := range b.early {
		ss.enqueue(m)
	}
	b.ready, b.early = true, nil
	b.mu.Unlock()

}

// systemExists refuses a bind to a system that does not exist (error 5). A module not (yet) in
// an existing system is fine: the binding delivers once the system maps it. When the engine
// cannot tell (Redis down, the node catching up), the bind goes ahead and follows the system.
func (ss *wsSession) systemExists(req *wsRequest) error {
	ctx, cancel := context.WithTimeout(ss.ctx, bindCheckTimeout)
	defer cancel()
	_, err := ss.s.cfg.Engine.Resolve(ctx, call.Target{SystemID: req.Sys, Name: req.Mod, Index: req.Index})
	if errors.Is(err, errkind.SystemNotFound) {
		return err
	}
	if err != nil && !errors.Is(err, errkind.NotFound) {
		ss.log.Debug("bind: could not check the system; binding anyway", "system", req.Sys, "error", err)
	}
	return nil
}

// release ends a binding the session no longer holds.
func (ss *wsSession) release(b *wsBinding) {
	if b.cancel != nil {
		b.cancel()
	}
	ss.s.releaseHead(b.head)
	ss.s.cfg.Metrics.AddWSBindings(-1)
}

// unbind: always success.
func (ss *wsSession) unbind(req *wsRequest) {
	key := bindKey{req.Sys, req.Mod, req.Index, req.Name}
	ss.mu.Lock()
	b := ss.binds[key]
	delete(ss.binds, key)
	ss.mu.Unlock()
	if b != nil {
		ss.release(b)
	}
	ss.reply(wsReply{ID: req.ID, Type: "success"})
}

// exec: the engine's one execute path, as for REST, with the session caller's clearance.
func (ss *wsSession) exec(req *wsRequest) {
	if ss.expired() {
		return // read just before the expiry, started just after it: not run
	}
	rid := httpwire.NewRequestID()
	res, err := ss.s.cfg.Engine.Execute(ss.ctx, call.Request{
		Target:   call.Target{SystemID: req.Sys, Name: req.Mod, Index: req.Index},
		Function: req.Name, Args: req.Args, Caller: ss.caller, RequestID: rid,
	})
	if err == nil && !json.Valid(res.Value) {
		err = errkind.Wrap(errCorruptStatus, nil, "driver result is not valid JSON")
	}
	if err != nil {
		ss.replyError(req, shuttingDown(ss.ctx, err), rid)
		return
	}
	ss.send(appendSuccess(nil, req, res.Value, res.Code))
}

// appendSuccess appends an exec's success reply to b: the bytes marshalReply writes for
// wsReply{ID, "success", meta, value, code}, written by hand when value needs no compaction
// (jsonscan.Compacted; a driver's result usually does not; meta never does), else by
// marshalReply. value is valid JSON.
func appendSuccess(b []byte, req *wsRequest, value json.RawMessage, code int) []byte {
	if !jsonscan.Compacted(value) {
		m, err := marshalReply(wsReply{ID: req.ID, Type: "success", Meta: req.meta, Value: value, Code: code})
		if err != nil {
			m, _ = marshalReply(errorReply(req.ID, errkind.CodeUnexpectedFailure, http.StatusInternalServerError, "reply does not encode as JSON"))
		}
		return append(b, m...)
	}
	if b == nil {
		b = make([]byte, 0, len(req.meta)+len(value)+64)
	}
	b = strconv.AppendInt(append(b, `{"id":`...), req.ID, 10)
	b = append(b, `,"type":"success"`...)
	if len(req.meta) > 0 {
		b = append(append(b, `,"meta":`...), req.meta...)
	}
	if len(value) > 0 {
		b = append(append(b, `,"value":`...), value...)
	}
	if code != 0 {
		b = strconv.AppendInt(append(b, `,"code":`...), int64(code), 10)
	}
	return append(b, '}')
}

// debug names its module as bind does (sys + module name + index), or by module id in mod.
// Lines keep the first debug request's id and carry the module id.
func (ss *wsSession) debug(req *wsRequest) {
	if ss.caller.Clearance < auth.ClearanceSupport {
		ss.replyError(req, errkind.Wrap(ErrAccessDenied, nil, "debug needs support clearance"), "")
		return
	}
	key := debugKey{req.Sys, req.Mod, req.Index}
	ss.mu.Lock()
	_, live := ss.debugs[key]
	full := len(ss.debugs) >= ss.s.cfg.WSMaxDebugs
	ss.mu.Unlock()
	switch {
	case live:
		ss.reply(wsReply{ID: req.ID, Type: "success"})
		return
	case full:
		// Bounded as bindings are: each stream holds the module's lines for this session and, for
		// a module another node runs, a connection to that node's cluster port (without a bound,
		// one session opened thousands: the key's index is new to the session whatever module
		// the id names).
		ss.refuseOverLimit(req, metrics.WSLimitDebugs, ss.s.cfg.WSMaxDebugs, "debug streams")
		return
	}
	ctx, cancelCtx := context.WithTimeout(ss.ctx, debugAttachTimeout)
	defer cancelCtx()
	cancel, err := ss.attachDebug(ctx, req)
	if err != nil {
		p := errkind.Classify(err)
		switch p.Code {
		case errkind.CodeModuleNotFound, errkind.CodeSystemNotFound:
			ss.replyError(req, err, "") // as bind answers
		default:
			ss.log.Warn("debug attach failed", "system", req.Sys, "module", req.Mod, "index", req.Index, "error", err)
			ss.reply(errorReply(req.ID, errkind.CodeUnexpectedFailure, p.Status, "failed to attach debugger: "+p.Message))
		}
		return
	}
	// Commands run on the reader goroutine, which also runs cleanup: nothing races this.
	ss.mu.Lock()
	if ss.debugs == nil {
		ss.debugs = map[debugKey]func(){}
	}
	ss.debugs[key] = cancel
	ss.mu.Unlock()
	ss.reply(wsReply{ID: req.ID, Type: "success"})
}

// attachDebug attaches to the module a debug names: the module at sys's mod_index when sys is
// given and has one, else mod as a module id (the engine refuses an id its model lacks). When
// neither is found, the first form's error tells a missing system (5) from a missing module (6).
func (ss *wsSession) attachDebug(ctx context.Context, req *wsRequest) (cancel func(), err error) {
	attach := func(mod string) (func(), error) {
		id, meta := req.ID, req.meta
		return ss.s.cfg.Engine.Debug(ctx, mod, func(level, msg string) {
			// A delivery callback: queued, never written inline.
			ss.enqueue(ss.encode(wsReply{ID: id, Type: "debug", Mod: mod, Level: strings.ToLower(level), Msg: msg, Meta: meta}))
		})
	}
	if req.Sys == "" {
		return attach(req.Mod)
	}
	id, rerr := ss.s.cfg.Engine.Resolve(ctx, call.Target{SystemID: req.Sys, Name: req.Mod, Index: req.Index})
	if rerr == nil {
		return attach(id)
	}
	if !errors.Is(rerr, errkind.NotFound) {
		return nil, rerr
	}
	cancel, err = attach(req.Mod)
	if errors.Is(err, errkind.NotFound) {
		return nil, rerr
	}
	return cancel, err
}

// ignore: always success.
func (ss *wsSession) ignore(req *wsRequest) {
	key := debugKey{req.Sys, req.Mod, req.Index}
	ss.mu.Lock()
	cancel := ss.debugs[key]
	delete(ss.debugs, key)
	ss.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	ss.reply(wsReply{ID: req.ID, Type: "success"})
}

// refuseOverLimit answers req 429 (errkind.TooMany) because the session holds max of what (the
// limit's name in engine_websocket_refused_total), and says so in the log at most every 10 s.
func (ss *wsSession) refuseOverLimit(req *wsRequest, limit string, max int, what string) {
	ss.s.cfg.Metrics.WSRefused(limit)
	if ss.s.limitLog.ok() {
		ss.log.Warn("limit reached: "+req.Cmd+" refused (counted in engine_websocket_refused_total; this line at most every 10 s)",
			"limit", limit, "max", max)
	}
	ss.replyError(req, errkind.Wrap(errkind.TooMany, nil, "too many %s: a session may hold %d", what, max), "")
}
