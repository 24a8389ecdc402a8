package httpapi

import (
	"net/http"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// Sentinel errors of this package. Errors reach callers through errkind.Classify (by way of
// httpwire.WriteError and the WebSocket's replyError), the one error mapping.
var (
	ErrRouteNotFound    = errkind.New(errkind.NoRoute, "no such route")
	ErrMethodNotAllowed = errkind.New(errkind.MethodNotAllowed, "method not allowed")
	ErrBadSlug          = errkind.New(errkind.BadRequest, "bad module slug")
	ErrAccessDenied     = errkind.New(errkind.Forbidden, "access denied")
	ErrDriverNotFound   = errkind.New(errkind.EntityNotFound, "driver not loaded on this node")
	ErrUnavailable      = errkind.New(errkind.Unavailable, "not available on this engine")
	ErrNoManager        = errkind.New(errkind.NotFound, "management API not enabled on this node")
	errCorruptStatus    = errkind.New(errkind.Internal, "stored status is not valid JSON")
	errModuleNotFound   = errkind.New(errkind.NotFound, "module not found")
	errPanic            = errkind.New(errkind.Internal, "handler panicked")
)

// writeError answers r with err and logs it (httpwire.WriteError with this server's logger).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, t call.Target) {
	httpwire.WriteError(w, r, s.log, shuttingDown(r.Context(), err), t)
}
