package httpapi

import (
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/httpwire"
)

// serveExec answers an execute: it reads the arguments and the caller's ?timeout= and hands the
// call to the engine's one execute path; the answer is the driver's raw result with its code.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, t call.Target, fn string) {
	args, err := httpwire.ReadArgs(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	timeout, err := httpwire.Timeout(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	res, err := s.cfg.Engine.Execute(r.Context(), call.Request{
		Target: t, Function: fn, Args: args, Caller: auth.CallerFrom(r.Context()),
		RequestID: RequestID(r.Context()), Timeout: timeout,
	})
	if err != nil {
		t.ModuleID = res.ModuleID
		s.writeError(w, r, err, t)
		return
	}
	httpwire.WriteRaw(w, res.Code, res.Value)
}
