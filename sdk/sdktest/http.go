package sdktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// HTTPServer is a mock HTTP service on 127.0.0.1. Each request the driver makes waits until
// the test handles it with Expect, so the test sees requests one by one, in order.
type HTTPServer struct {
	t    testing.TB
	srv  *httptest.Server
	reqs chan *pendingRequest
	quit chan struct{}
}

// Request is a request the driver made, with its body read.
type Request struct {
	*http.Request
	Body []byte
}

// JSON decodes the request body into v, failing the test if it is not valid JSON.
func (r *Request) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("sdktest: request body %s is not the expected JSON: %v", r.Body, err)
	}
}

type pendingRequest struct {
	w    http.ResponseWriter
	r    *Request
	done chan struct{}
}

// HTTPServer starts a mock HTTP service; Start points the module's uri at it when Module.URI
// is empty.
func (h *Harness) HTTPServer() *HTTPServer {
	s := &HTTPServer{t: h.t, reqs: make(chan *pendingRequest), quit: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	h.t.Cleanup(func() {
		close(s.quit)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	h.mu.Lock()
	h.http = s
	h.mu.Unlock()
	return s
}

// URL is the service's base URL.
func (s *HTTPServer) URL() string { return s.srv.URL }

func (s *HTTPServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p := &pendingRequest{w: w, r: &Request{Request: r, Body: body}, done: make(chan struct{})}
	select {
	case s.reqs <- p:
	case <-s.quit:
		http.Error(w, "test over", http.StatusServiceUnavailable)
		return
	case <-r.Context().Done():
		return
	}
	select {
	case <-p.done:
	case <-s.quit:
	}
}

// Expect waits for the driver's next request and lets handle answer it (write the status,
// headers and body to w). It fails the test if no request arrives within Timeout.
func (s *HTTPServer) Expect(handle func(w http.ResponseWriter, r *Request)) {
	s.t.Helper()
	select {
	case p := <-s.reqs:
		defer close(p.done)
		handle(p.w, p.r)
	case <-time.After(Timeout):
		s.t.Fatalf("sdktest: the driver made no HTTP request within %s", Timeout)
	}
}

// ExpectJSON waits for the next request, fails the test unless it is method path (path may
// include the query), decodes its body into in (when not nil) and answers status with reply
// encoded as JSON.
func (s *HTTPServer) ExpectJSON(method, path string, in any, status int, reply any) {
	s.t.Helper()
	s.Expect(func(w http.ResponseWriter, r *Request) {
		s.t.Helper()
		if r.Method != method || r.URL.RequestURI() != path {
			s.t.Errorf("sdktest: the driver requested %s %s, want %s %s", r.Method, r.URL.RequestURI(), method, path)
		}
		if in != nil {
			r.JSON(s.t, in)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(reply)
	})
}
