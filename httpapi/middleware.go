package httpapi

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/httpwire"
)

// RequestIDHeader carries the request id in and out of every request.
const RequestIDHeader = httpwire.RequestIDHeader

// RequestID is the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string { return httpwire.RequestID(ctx) }

// middleware wraps the router. It wraps the router as a whole (rather than mux.Use) so that the
// not-found and method-not-allowed answers also get a request id, a log line and panic safety.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get(RequestIDHeader)
		if !httpwire.AcceptableRequestID(rid) {
			rid = httpwire.NewRequestID()
		}
		w.Header().Set(RequestIDHeader, rid)
		r = r.WithContext(httpwire.WithRequestID(r.Context(), rid))
		rec := &recorder{ResponseWriter: w}

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
					panic(v)
				}
				s.log.Error("handler panicked", "request_id", rid, "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r, errPanic, call.Target{})
				}
			}
			s.log.Debug("request", "request_id", rid, "method", r.Method, "path", r.URL.Path,
				"status", rec.statusCode(), "bytes", rec.bytes, "duration", time.Since(start))
		}()

		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.writeError(rec, r, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}, call.Target{})
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBodyBytes)
		}

		caller, err := s.cfg.Auth.Authenticate(r)
		if err != nil && !isOpen(r) {
			s.writeError(rec, r, err, call.Target{})
			return
		}
		if err := s.checkBrowser(r, caller); err != nil {
			s.writeError(rec, r, err, call.Target{})
			return
		}
		// On an open route a caller without valid credentials is anonymous (a user with no id).
		next.ServeHTTP(rec, r.WithContext(auth.WithCaller(r.Context(), caller)))
	})
}

// isOpen is true for the routes anyone may call: liveness and readiness, which orchestrators
// call without credentials, and the authority document front-ends load before they log in.
func isOpen(r *http.Request) bool {
	return r.URL.Path == "/" || r.URL.Path == NodeBase+"/ready" || r.URL.Path == AuthorityPath
}

// recorder remembers the status for the access log and whether a panic can still be answered.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recorder) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *recorder) statusCode() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection.
func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush and Hijack are forwarded because streaming and WebSocket upgrades assert them directly.
func (w *recorder) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("httpapi: connection cannot be hijacked")
	}
	w.status, w.wrote = http.StatusSwitchingProtocols, true
	return h.Hijack()
}
