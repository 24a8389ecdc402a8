package httpapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"runtime/debug"
	"time"
)

// RequestIDHeader carries the request id in and out of every request.
const RequestIDHeader = "X-Request-ID"

type requestIDKey struct{}

// RequestID is the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID is a random UUID (version 4), the form PlaceOS clients expect.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// acceptableRequestID keeps a caller's id only when it is safe to echo into headers and logs.
func acceptableRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// middleware wraps the router. It wraps the router as a whole (rather than mux.Use) so that the
// not-found and method-not-allowed answers also get a request id, a log line and panic safety.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get(RequestIDHeader)
		if !acceptableRequestID(rid) {
			rid = newRequestID()
		}
		w.Header().Set(RequestIDHeader, rid)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, rid))
		rec := &recorder{ResponseWriter: w}

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
					panic(v)
				}
				s.log.Error("handler panicked", "request_id", rid, "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r, errPanic, target{})
				}
			}
			s.log.Debug("request", "request_id", rid, "method", r.Method, "path", r.URL.Path,
				"status", rec.statusCode(), "bytes", rec.bytes, "duration", time.Since(start))
		}()

		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.writeError(rec, r, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}, target{})
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(rec, r.Body, s.cfg.MaxBodyBytes)
		}

		caller, err := s.authenticate(r)
		if err != nil {
			s.writeError(rec, r, err, target{})
			return
		}
		next.ServeHTTP(rec, r.WithContext(WithCaller(r.Context(), caller)))
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
