package httpapi

import (
	"net/http"
	"strings"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// MaxIdentifierBytes bounds every identifier a client names a status or a function by: a
// WebSocket request's sys, mod and name (a status, or the function of an exec), and the path
// identifiers of the client routes that address a system or module: status, execute, functions,
// start/stop, settings (docs/protocol.md §6.1). Each distinct name a
// client binds is a Redis subscription and the session's own state, so without a bound one user
// holds a megabyte of Redis and engine memory per binding (the frame limit) — a hundred sessions
// of a thousand bindings each; 255 bytes is far beyond any real system id, module name, status or
// function name (a DNS name is at most 253) and keeps a session's bindings to kilobytes each.
const MaxIdentifierBytes = 255

var errIdentifierTooLong = errkind.New(errkind.BadRequest, "identifier too long")

// checkIdentifier refuses a value of the identifier what longer than MaxIdentifierBytes. The
// message names its length, not the value, which a client would get back a megabyte of.
func checkIdentifier(what, v string) error {
	if len(v) <= MaxIdentifierBytes {
		return nil
	}
	return errkind.Wrap(errIdentifierTooLong, nil, "%s is %d bytes long; an identifier may have at most %d bytes", what, len(v), MaxIdentifierBytes)
}

// pathIdentifiers are the wildcards of the routes boundedPath wraps, and how a message names them.
var pathIdentifiers = [...]struct{ wildcard, what string }{
	{"sys", "the system id"}, {"slug", "the module"}, {"id", "the module id"}, {"fn", "the function name"}, {"status", "the status name"},
}

// boundedPath wraps a route whose path names a system, module, status or function: an identifier
// longer than MaxIdentifierBytes is answered 400 bad_request before anything is looked up.
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
				if err := checkIdentifier(p.what, r.PathValue(p.wildcard)); err != nil {
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
