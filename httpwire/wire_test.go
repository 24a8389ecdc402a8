package httpwire

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// TestRetryAfter: a driver's retry hint becomes Retry-After in whole seconds, rounded up; any
// other 503 says 1, and other answers say nothing. The body carries the hint in milliseconds,
// and ProblemOf (a forwarding node reading the owner's answer) gets back an error that answers
// the same.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&errkind.DriverError{Class: "ERR3", Message: "warming up", Code: 503, RetryAfter: 30 * time.Second}, "30"},
		{&errkind.DriverError{Class: "ERR3", Message: "warming up", Code: 503, RetryAfter: 1200 * time.Millisecond}, "2"},
		{&errkind.DriverError{Class: "E22", Message: "busy", Code: 503}, "1"},
		{errkind.New(errkind.Unavailable, "driver restarting"), "1"},
		{&errkind.DriverError{Class: "ERR2", Message: "bad input", Code: 400}, ""},
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodPost, "/x", nil), hclog.NewNullLogger(), tc.err, call.Target{})
		if got := w.Header().Get("Retry-After"); got != tc.want {
			t.Errorf("%v: Retry-After %q, want %q", tc.err, got, tc.want)
		}
		again := httptest.NewRecorder()
		WriteError(again, httptest.NewRequest(http.MethodPost, "/x", nil), hclog.NewNullLogger(),
			ProblemOf(w.Code, w.Body.Bytes(), "node-2"), call.Target{})
		if again.Code != w.Code || again.Body.String() != w.Body.String() || again.Header().Get("Retry-After") != tc.want {
			t.Errorf("%v forwarded: %d %s Retry-After %q, want %d %s %q", tc.err, again.Code, again.Body, again.Header().Get("Retry-After"),
				w.Code, w.Body, tc.want)
		}
	}
}

// A new request id is a version 4 UUID, as PlaceOS clients expect, and ids do not repeat.
func TestNewRequestID(t *testing.T) {
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 10000 {
		id := NewRequestID()
		if !uuid4.MatchString(id) {
			t.Fatalf("%q is not a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q came twice", id)
		}
		seen[id] = true
	}
}

// TestErrorLogLevels: an engine fault is an ERROR, the engine's own unavailability a WARN, and a
// driver's own answer (a busy device's 503, a 400 it raised) and the caller's mistakes DEBUG.
func TestErrorLogLevels(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errkind.New(errkind.Internal, "bug"), "[ERROR]"},
		{errkind.New(errkind.Unavailable, "driver restarting"), "[WARN]"},
		{errkind.WithRetryAfter(errkind.New(errkind.Unavailable, "module did not start: bad settings"), 5*time.Second), "[DEBUG]"},
		{&errkind.DriverError{Class: "Busy", Message: "warming up", Code: 503, RetryAfter: time.Second}, "[DEBUG]"},
		{&errkind.DriverError{Class: "ArgumentError", Message: "bad", Code: 400}, "[DEBUG]"},
		{errkind.New(errkind.BadRequest, "no such function"), "[DEBUG]"},
	} {
		var out bytes.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &out, Level: hclog.Debug})
		WriteError(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/x", nil), log, tc.err, call.Target{})
		if !strings.Contains(out.String(), tc.want) || !strings.Contains(out.String(), "request failed") {
			t.Errorf("%v logged %q, want a %s line", tc.err, out.String(), tc.want)
		}
	}
}
