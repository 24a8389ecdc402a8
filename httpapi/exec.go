package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// readArgs reads an execute body: a JSON array (positional), a JSON object (named), or nothing
// at all (no arguments). The Content-Type is not checked: `curl -d '[]'` sends a form type and
// refusing it would only trip people up.
func readArgs(r *http.Request) (json.RawMessage, error) {
	if r.Body == nil {
		return nil, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, fail(ErrBadBody, err, "reading the request body: %v", err)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	var probe json.RawMessage
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, fail(ErrMalformedJSON, err, "request body is not valid JSON: %v", err)
	}
	if body[0] != '[' && body[0] != '{' {
		return nil, fail(ErrBadBody, nil, "request body must be a JSON array (positional arguments) or object (named arguments)")
	}
	return body, nil
}

// execTimeout is Config.ExecTimeout, or less when the caller asks with ?timeout=<milliseconds>.
// A caller can shorten the deadline but never extend it past what the operator allows.
func (s *Server) execTimeout(r *http.Request) (time.Duration, error) {
	q := r.URL.Query().Get("timeout")
	if q == "" {
		return s.cfg.ExecTimeout, nil
	}
	ms, err := strconv.ParseInt(q, 10, 64)
	if err != nil || ms <= 0 {
		return 0, fail(ErrBadParameter, err, "timeout must be a positive number of milliseconds, got %q", q)
	}
	if d := time.Duration(ms) * time.Millisecond; ms < int64(s.cfg.ExecTimeout/time.Millisecond) {
		return d, nil
	}
	return s.cfg.ExecTimeout, nil
}

// resolve finds the module behind a system slug. When the engine says "not found" it asks once
// more, for the system's types, to tell the caller whether the system or the module is missing.
func (s *Server) resolve(ctx context.Context, t target) (string, error) {
	id, err := s.cfg.Modules.Resolve(ctx, t.SysID, t.Name, t.Index)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, errkind.NotFound) {
		return "", err
	}
	if _, terr := s.cfg.Modules.Types(ctx, t.SysID); errors.Is(terr, errkind.NotFound) {
		return "", fail(ErrSystemNotFound, err, "could not find system %s", t.SysID)
	}
	return "", fail(ErrModuleNotFound, err, "could not find module %s_%d in system %s", t.Name, t.Index, t.SysID)
}

// loadMetadata is a module's parsed metadata; no metadata means the module never started here.
func (s *Server) loadMetadata(ctx context.Context, moduleID string) (*metadata, error) {
	raw, err := s.cfg.Modules.Metadata(ctx, moduleID)
	if errors.Is(err, errkind.NotFound) {
		return nil, fail(ErrModuleNotFound, err, "could not find module %s: it has no metadata (never started?)", moduleID)
	}
	if err != nil {
		return nil, err
	}
	md, err := s.meta.get(moduleID, raw)
	if err != nil {
		return nil, fail(ErrBadMetadata, err, "metadata of module %s: %v", moduleID, err)
	}
	return md, nil
}

// execute is the checked path of every client execute (REST now, the WebSocket later): the
// function must exist, the caller must be cleared for it, the arguments must bind, and the call
// gets a deadline. It returns the driver's raw JSON result and its HTTP-style code.
func (s *Server) execute(ctx context.Context, moduleID, fn string, args json.RawMessage, timeout time.Duration) (json.RawMessage, int, error) {
	md, err := s.loadMetadata(ctx, moduleID)
	if err != nil {
		return nil, 0, err
	}
	f := md.funcs[fn]
	if f == nil {
		return nil, 0, fail(ErrFunctionNotFound, nil, "could not find function %s", fn)
	}
	caller := CallerFrom(ctx)
	if !md.allowed(fn, caller.Clearance) {
		return nil, 0, fail(ErrAccessDenied, nil, "attempted to access privileged function %s", fn)
	}
	if err := f.checkArgs(args); err != nil {
		return nil, 0, err
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, code, err := s.cfg.Modules.Exec(ctx, moduleID, fn, args, caller.UserID, RequestID(ctx))
	if err != nil {
		var de *errkind.DriverError
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.As(err, &de) {
			// Whatever layer noticed first, the caller's story is that the call ran out of time.
			err = errkind.Wrap(errkind.Timeout, err, "%s did not answer within %s", fn, timeout)
		}
		return nil, 0, err
	}
	if code < 200 || code > 599 {
		code = http.StatusOK
	}
	if len(bytes.TrimSpace(res)) == 0 {
		res = json.RawMessage("null")
	}
	return res, code, nil
}

// serveExec answers an execute: the raw result with the driver's code, or the mapped error.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, t target, fn string) {
	args, err := readArgs(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	timeout, err := s.execTimeout(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if t.ModuleID == "" {
		if t.ModuleID, err = s.resolve(r.Context(), t); err != nil {
			s.writeError(w, r, err, t)
			return
		}
	}
	res, code, err := s.execute(r.Context(), t.ModuleID, fn, args, timeout)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	writeRaw(w, code, res)
}
