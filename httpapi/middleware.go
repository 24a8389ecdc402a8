package httpapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/metrics"
)

// RequestIDHeader carries the request id in and out of every request.
const RequestIDHeader = httpwire.RequestIDHeader

// RequestID is the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string { return httpwire.RequestID(ctx) }

// middleware is everything in front of the router, in one handler (it runs on every request,
// so it wraps the writer and the body once, in one allocation, and derives the request once):
//
//   - limits (docs/protocol.md §6.1): each response gets its write deadline; on a connection
//     admitted on the probe reserve only probes are served, and the connection is closed after
//     one request; a request body the handler left unread is never drained: such a connection
//     is closed after the answer instead, so an unauthenticated or refused request cannot hold
//     it by trickling its body;
//   - a request id (X-Request-ID), a body limit, panic safety and the access log line (at
//     debug), also for the not-found and method-not-allowed answers;
//   - X-Content-Type-Options: nosniff on every answer, so that no browser reads a JSON answer
//     (a driver's result, a status) as HTML or script;
//   - under --auth none, the DNS-rebinding guard (checkHost);
//   - who is calling (Config.Auth) and the browser rule (checkBrowser).
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header()[nosniffKey] = nosniff
		setWriteDeadline(w, start.Add(s.cfg.WriteTimeout)) // a WebSocket upgrade clears it
		if onReserve(r.Context()) {
			w.Header().Set("Connection", "close")
			if !isProbe(r) {
				s.cfg.Metrics.HTTPConnRefused(metrics.ConnRefusedBusy)
				closeAfter(w)
				rid := httpwire.NewRequestID()
				httpwire.SetRequestID(w.Header(), rid)
				r = r.WithContext(httpwire.WithRequestID(r.Context(), rid))
				s.writeError(w, r, errkind.Wrap(ErrUnavailable, nil, "the server is at its connection limit; only probes are served"), call.Target{})
				return
			}
		}

		ex := &exchange{rec: recorder{ResponseWriter: w}}
		rec, ctx := &ex.rec, &ex.ctx
		var body *watchedBody
		if r.Body != nil && r.Body != http.NoBody {
			ex.body = watchedBody{rc: r.Body, length: r.ContentLength, limit: s.cfg.MaxBodyBytes}
			body = &ex.body
			r.Body = body
		}

		rid := httpwire.GetRequestID(r.Header)
		if !httpwire.AcceptableRequestID(rid) {
			rid = httpwire.NewRequestID()
		}
		ex.rid[0] = rid
		httpwire.SetRequestIDValue(w.Header(), ex.rid[:])
		ctx.Init(r.Context(), &ex.rid[0])

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel panic value, compared as net/http does
					panic(v)
				}
				s.log.Error("handler panicked", "request_id", rid, "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				if !rec.wrote {
					s.writeError(rec, r.WithContext(ctx), errPanic, call.Target{})
				}
			}
			if s.log.IsDebug() {
				s.log.Debug("request", "request_id", rid, "method", r.Method, "path", r.URL.Path,
					"status", rec.statusCode(), "bytes", rec.bytes, "duration", time.Since(start))
			}
			if body != nil && !body.done() && !rec.hijacked {
				closeAfter(w)
			}
		}()

		if r.ContentLength > s.cfg.MaxBodyBytes {
			s.writeError(rec, r.WithContext(ctx), &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}, call.Target{})
			return
		}
		if err := s.checkHost(r); err != nil {
			s.writeError(rec, r.WithContext(ctx), err, call.Target{})
			return
		}
		caller, err := s.cfg.Auth.Authenticate(r)
		if err != nil && !isOpen(r) {
			s.writeError(rec, r.WithContext(ctx), err, call.Target{})
			return
		}
		if err := s.checkBrowser(r, caller); err != nil {
			s.writeError(rec, r.WithContext(ctx), err, call.Target{})
			return
		}
		// On an open route a caller without valid credentials is anonymous (a user with no id).
		ctx.SetCaller(caller)
		next.ServeHTTP(rec, r.WithContext(ctx))
	})
}

// nosniff is the X-Content-Type-Options value of every answer, shared (net/http only reads it; a
// full slice, so that an Add elsewhere copies it): Set would allocate a slice per request.
var nosniff = []string{"nosniff"}[:1:1]

const nosniffKey = "X-Content-Type-Options" // canonical already

// setWriteDeadline sets the write deadline of w's connection: net/http's writers have the method
// themselves (http.NewResponseController would allocate on every request).
func setWriteDeadline(w http.ResponseWriter, t time.Time) {
	if d, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(t)
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(t)
}

// isOpen is true for the routes anyone may call: liveness and readiness, which orchestrators
// call without credentials, the authority document front-ends load before they log in, and the
// console's files (the sign-in page).
func isOpen(r *http.Request) bool {
	return r.URL.Path == "/" || r.URL.Path == NodeBase+"/ready" || r.URL.Path == AuthorityPath || isConsole(r.URL.Path)
}

// closeAfter makes net/http close the connection once the answer is written, reading nothing
// more of the request body. http.MaxBytesReader is the documented way to tell a ResponseWriter
// to close its connection (one byte past a limit of zero trips it): net/http then skips its drain
// and closes with a FIN and a short linger, so that a client still sending reads the answer
// rather than a reset. The read deadline in the past ends the little reading net/http still does
// when it closes the body. w is net/http's own writer.
func closeAfter(w http.ResponseWriter) {
	_, _ = http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(make([]byte, 1))
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}

// exchange is what the middleware wraps around one request, allocated together.
type exchange struct {
	rec  recorder
	body watchedBody
	ctx  httpwire.Context
	rid  [1]string // the request id: the X-Request-ID header's value, and the context's
}

// watchedBody bounds the request body (Config.MaxBodyBytes, as http.MaxBytesReader does: past the
// limit a read fails with *http.MaxBytesError, answered 413) and tells whether the handler read
// it to its end. Its Close is left to net/http (which would otherwise drain the rest inside the
// handler).
type watchedBody struct {
	rc     io.ReadCloser
	length int64 // Content-Length, -1 when unknown
	limit  int64
	n      int64
	eof    bool
	err    error // the limit's error, once hit
}

func (b *watchedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	left := b.limit - b.n
	if int64(len(p))-1 > left {
		p = p[:left+1] // one byte past the limit tells reaching it from going past it
	}
	n, err := b.rc.Read(p)
	if int64(n) > left {
		b.n += left
		b.err = &http.MaxBytesError{Limit: b.limit}
		return int(left), b.err
	}
	b.n += int64(n)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *watchedBody) Close() error { return nil }

func (b *watchedBody) done() bool { return b.eof || (b.length >= 0 && b.n >= b.length) }

// recorder remembers the status for the access log, whether a panic can still be answered, and
// whether the connection was hijacked (a WebSocket upgrade: it is no longer the server's).
type recorder struct {
	http.ResponseWriter
	status   int
	bytes    int64
	wrote    bool
	hijacked bool
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
	w.status, w.wrote, w.hijacked = http.StatusSwitchingProtocols, true, true
	return h.Hijack()
}
