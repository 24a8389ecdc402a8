package httpapi

import (
	"net/http"
	"strings"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/model"
)

// MaxIdentifierBytes is call.MaxIdentifierBytes: the bound on the identifiers of a WebSocket
// request (sys, mod, name) and of the path of the client routes that address a system or module
// (docs/protocol.md §6.1). Each distinct name a client binds is a Redis subscription and the
// session's own state, so they are checked here, before anything is subscribed to or looked up;
// an execute's identifiers are checked again by the engine's one execute path, whichever way the
// call came in.
const MaxIdentifierBytes = call.MaxIdentifierBytes

// pathIdentifiers are the wildcards of the routes boundedPath wraps, and how a message names them.
var pathIdentifiers = [...]struct{ wildcard, what string }{
	{"sys", "the system id"}, {"slug", "the module"}, {"id", "the module id"}, {"fn", "the function name"}, {"status", "the status name"},
}

// boundedPath wraps a route whose path names a system, module, status or function: an identifier
// longer than MaxIdentifierBytes is answered 400 bad_request before anything is looked up. The
// execute routes keep it although the engine checks an execute's identifiers itself: before the
// engine is reached a bad slug is quoted (ParseSlug), and every error body echoes the target.
func (s *Server) boundedPath(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// Every execute passes here: look up the wildcards only when the path has a long segment.
		// A wildcard's value is one segment of the path, unescaped (RawPath is set when the
		// escaping is not the default one), and never longer than the segment escaped.
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		if longSegment(path) {
			for _, p := range pathIdentifiers {
				if err := call.CheckIdentifier(p.what, r.PathValue(p.wildcard)); err != nil {
					s.writeError(w, r, err, call.Target{})
					return
				}
			}
		}
		h(w, r)
	}
}

// longSegment reports whether a /-separated segment of path is longer than MaxIdentifierBytes.
func longSegment(path string) bool {
	for len(path) > MaxIdentifierBytes {
		i := strings.IndexByte(path, '/')
		if i < 0 || i > MaxIdentifierBytes {
			return true
		}
		path = path[i+1:]
	}
	return false
}

// boundedID wraps a management route whose {id} names an entity of kind: an id longer than
// MaxIdentifierBytes is answered 400 bad_request before it is looked up, quoted in a message or
// proposed (a DELETE is a Raft log entry before the model finds nothing by that id).
func (s *Server) boundedID(kind model.Kind, h http.HandlerFunc) http.HandlerFunc {
	what := "the " + singular(kind) + " id"
	return func(w http.ResponseWriter, r *http.Request) {
		if err := call.CheckIdentifier(what, r.PathValue("id")); err != nil {
			s.writeError(w, r, err, call.Target{})
			return
		}
		h(w, r)
	}
}
