package errkind

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestClassify covers every kind: REST, the WebSocket, drivers and peers all read this table.
func TestClassify(t *testing.T) {
	t.Parallel()
	sentinel := func(kind error) error { return Wrap(New(kind, "sentinel"), nil, "x") }
	tests := []struct {
		name     string
		err      error
		status   int
		code     Code
		class    string
		internal bool
	}{
		{"system not found", sentinel(SystemNotFound), 404, CodeSystemNotFound, "NotFound", false},
		{"entity not found", sentinel(EntityNotFound), 404, CodeModuleNotFound, "NotFound", false},
		{"entity not found, wrapped by fmt", fmt.Errorf("zone %q: %w", "z9", New(EntityNotFound, "not found")), 404, CodeModuleNotFound, "NotFound", false},
		{"module not found", sentinel(NotFound), 404, CodeModuleNotFound, "NotFound", false},
		{"no route", sentinel(NoRoute), 404, CodeBadRequest, "NotFound", false},
		{"bad request", sentinel(BadRequest), 400, CodeBadRequest, "BadRequest", false},
		{"malformed", sentinel(Malformed), 400, CodeParseError, "BadRequest", false},
		{"method", sentinel(MethodNotAllowed), 405, CodeBadRequest, "BadRequest", false},
		{"too large", sentinel(TooLarge), 413, CodeBadRequest, "BadRequest", false},
		{"too many", sentinel(TooMany), 429, CodeBadRequest, "TooMany", false},
		{"max bytes", &http.MaxBytesError{Limit: 1}, 413, CodeBadRequest, "BadRequest", false},
		{"max bytes wrapped", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 1}), 413, CodeBadRequest, "BadRequest", false},
		{"unauthorized", New(Unauthorized, "x"), 401, CodeAccessDenied, "Unauthorized", false},
		{"forbidden", New(Forbidden, "x"), 403, CodeAccessDenied, "AccessDenied", false},
		{"conflict", New(Conflict, "x"), 409, CodeBadRequest, "Conflict", false},
		{"unavailable", New(Unavailable, "x"), 503, CodeUnexpectedFailure, "Unavailable", false},
		{"timeout", New(Timeout, "x"), 504, CodeUnexpectedFailure, "Timeout", false},
		{"deadline", fmt.Errorf("exec: %w", context.DeadlineExceeded), 504, CodeUnexpectedFailure, "Timeout", false},
		{"unavailable after a deadline", Wrap(Unavailable, context.DeadlineExceeded, "x"), 504, CodeUnexpectedFailure, "Timeout", false},
		{"cancelled", context.Canceled, StatusClientClosedRequest, CodeUnexpectedFailure, "Canceled", false},
		{"driver raised", &DriverError{Class: "E", Message: "m"}, 500, CodeRequestFailed, "E", false},
		{"driver code", &DriverError{Message: "m", Code: 409}, 409, CodeRequestFailed, "", false},
		{"driver code 400", &DriverError{Message: "m", Code: 400}, 400, CodeBadRequest, "", false},
		{"driver code nonsense", &DriverError{Message: "m", Code: 42}, 500, CodeRequestFailed, "", false},
		{"argument error", &DriverError{Class: "ArgumentError", Message: "m"}, 400, CodeBadRequest, "ArgumentError", false},
		{"argument error with the default code", &DriverError{Class: "ArgumentError", Message: "m", Code: 500}, 400, CodeBadRequest, "ArgumentError", false},
		{"argument error with its own code", &DriverError{Class: "ArgumentError", Message: "m", Code: 422}, 422, CodeRequestFailed, "ArgumentError", false},
		{"internal", New(Internal, "x"), 500, CodeUnexpectedFailure, "UnexpectedFailure", true},
		{"plain", errors.New("who knows"), 500, CodeUnexpectedFailure, "UnexpectedFailure", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Classify(tt.err)
			if p.Status != tt.status || p.Code != tt.code || p.Class != tt.class || p.Internal != tt.internal {
				t.Fatalf("Classify(%v) = %+v, want status %d code %v class %q internal %v",
					tt.err, p, tt.status, tt.code, tt.class, tt.internal)
			}
			if p.Internal && p.Message != "unexpected failure" {
				t.Fatalf("an internal failure shows its message: %q", p.Message)
			}
			// REST names the failure with the code's name unless the mapping refines it.
			want := tt.code.String()
			switch {
			case tt.status == 401:
				want = NameUnauthorized
			case errors.Is(tt.err, EntityNotFound):
				want = NameEntityNotFound
			case tt.status == 503:
				want = NameUnavailable
			}
			if p.Name != want {
				t.Fatalf("Classify(%v).Name = %q, want %q", tt.err, p.Name, want)
			}
		})
	}
}

// TestRESTNames: 401 is not "access_denied", a missing management entity is not
// "module_not_found" and a 503 (retry later) is not "unexpected_failure" on REST, while the
// WebSocket's error_code stays one of PlaceOS's 0–7.
func TestRESTNames(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		name string
		code Code
	}{
		{New(Unauthorized, "who"), "unauthorized", CodeAccessDenied},
		{New(Forbidden, "no"), "access_denied", CodeAccessDenied},
		{New(EntityNotFound, "no zone"), "not_found", CodeModuleNotFound},
		{New(NotFound, "no module"), "module_not_found", CodeModuleNotFound},
		{New(SystemNotFound, "no system"), "system_not_found", CodeSystemNotFound},
		{Wrap(New(Unavailable, "module is not running"), nil, "module %q stopped while it was called", "m"), "unavailable", CodeUnexpectedFailure},
		{New(Timeout, "late"), "unexpected_failure", CodeUnexpectedFailure},
	} {
		p := Classify(tt.err)
		if p.Name != tt.name || p.Code != tt.code || p.Code < CodeParseError || p.Code > CodeUnexpectedFailure {
			t.Errorf("%v: name %q code %d, want %q and %d", tt.err, p.Name, p.Code, tt.name, tt.code)
		}
	}
}

// TestRetryAfterMs: a retry hint from the wire is never negative and never more than a day,
// however large the number a driver sent.
func TestRetryAfterMs(t *testing.T) {
	t.Parallel()
	for ms, want := range map[int64]time.Duration{
		-1: 0, 0: 0, 1: time.Millisecond, 4500: 4500 * time.Millisecond,
		MaxRetryAfter.Milliseconds(): MaxRetryAfter, MaxRetryAfter.Milliseconds() + 1: MaxRetryAfter,
		1 << 62: MaxRetryAfter, -1 << 63: 0,
	} {
		if got := RetryAfterMs(ms); got != want {
			t.Errorf("RetryAfterMs(%d) = %v, want %v", ms, got, want)
		}
	}
}

// TestFromProblemRoundTrip: what one node answers, the forwarding node turns back into an error
// that classifies the same, so the caller cannot tell which node failed.
func TestFromProblemRoundTrip(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		New(SystemNotFound, "no system"), New(NotFound, "no module"), New(EntityNotFound, "no zone"), New(BadRequest, "bad"),
		New(Malformed, "bad json"), New(TooLarge, "big"), New(Unauthorized, "who"), New(Forbidden, "no"),
		New(Conflict, "elsewhere"), New(Unavailable, "restarting"), New(Timeout, "slow"),
		&DriverError{Message: "raised", Backtrace: []string{"a.go:1"}, Code: 500},
		&DriverError{Message: "teapot", Code: 418},
		&DriverError{Class: "DeviceError", Message: "jammed", Code: 500},
		&DriverError{Class: "ArgumentError", Message: "level must be an integer", Code: 500},
		&DriverError{Class: "ArgumentError", Message: "level must be an integer"},
		&DriverError{Class: "Busy", Message: "warming up", Code: 503, RetryAfter: 4500 * time.Millisecond},
		WithRetryAfter(New(Unavailable, "start failing"), 5*time.Second),
	} {
		p := Classify(err)
		class := ""
		if p.Raised {
			class = p.Class
		}
		back := Classify(FromProblem(p.Status, p.Name, p.Message, class, p.Backtrace, p.RetryAfter))
		if len(back.Backtrace) != len(p.Backtrace) || back.Status != p.Status || back.Code != p.Code || back.Name != p.Name ||
			back.Message != p.Message || back.Class != p.Class || back.Raised != p.Raised || back.RetryAfter != p.RetryAfter {
			t.Errorf("%v: %+v came back as %+v", err, p, back)
		}
	}
	if !errors.Is(FromProblem(502, "", "bad gateway", "", nil, 0), Unavailable) {
		t.Error("502 is not unavailable")
	}
	if p := Classify(FromProblem(500, "unexpected_failure", "secret path /x", "", nil, 0)); !p.Internal {
		t.Errorf("a peer's internal failure is shown: %+v", p)
	}
	if !errors.Is(FromProblem(409, "bad_request", "moved", "", nil, 0), Conflict) {
		t.Error("409 is not a conflict")
	}
	// A node of the previous version names a 401 access_denied: still unauthorized.
	if p := Classify(FromProblem(401, "access_denied", "who", "", nil, 0)); p.Status != 401 || p.Name != NameUnauthorized {
		t.Errorf("an older node's 401: %+v", p)
	}
	// And names a 503 unexpected_failure: still unavailable, not an engine fault.
	if p := Classify(FromProblem(503, "unexpected_failure", "moving", "", nil, 0)); p.Status != 503 || p.Name != NameUnavailable || p.Internal {
		t.Errorf("an older node's 503: %+v", p)
	}
}

// TestWithRetryAfter: the engine's own hint reaches the Problem, keeps the error's kind, and is
// bounded like a driver's; none is added for a hint that is not positive.
func TestWithRetryAfter(t *testing.T) {
	t.Parallel()
	base := New(Unavailable, "module is not running")
	err := WithRetryAfter(fmt.Errorf("start: %w", base), 5*time.Second)
	if p := Classify(err); p.Status != 503 || p.RetryAfter != 5*time.Second || p.Message != "start: module is not running" {
		t.Errorf("Classify = %+v", p)
	}
	if !errors.Is(err, Unavailable) || !errors.Is(err, base) {
		t.Error("the hint hides the error's kind")
	}
	if p := Classify(WithRetryAfter(base, 48*time.Hour)); p.RetryAfter != MaxRetryAfter {
		t.Errorf("an unbounded hint: %v", p.RetryAfter)
	}
	if WithRetryAfter(base, 0) != base || WithRetryAfter(base, -time.Second) != base || WithRetryAfter(nil, time.Second) != nil {
		t.Error("a hint that is not positive, or of no error, changed it")
	}
	if p := Classify(fmt.Errorf("wrapped again: %w", WithRetryAfter(base, time.Second))); p.RetryAfter != time.Second {
		t.Errorf("the hint is lost when the error is wrapped: %+v", p)
	}
}

func TestCodeNames(t *testing.T) {
	t.Parallel()
	want := []string{"parse_error", "bad_request", "access_denied", "request_failed",
		"unknown_command", "system_not_found", "module_not_found", "unexpected_failure"}
	for i, w := range want {
		if got := Code(i).String(); got != w {
			t.Fatalf("Code(%d) = %q, want %q", i, got, w)
		}
	}
	if Code(99).String() != "unexpected_failure" {
		t.Fatal("out-of-range code")
	}
}

// TestWithState: a state names the node's standing on the problem, keeps the kind's status, and
// a nil error or an empty state change nothing.
func TestWithState(t *testing.T) {
	err := WithState(New(Unavailable, "this node is not a member"), "not a member")
	if p := Classify(err); p.Status != 503 || p.State != "not a member" || p.Message != "this node is not a member" {
		t.Fatalf("%+v", p)
	}
	if WithState(nil, "x") != nil || Classify(WithState(New(Unavailable, "y"), "")).State != "" {
		t.Fatal("a nil error or an empty state")
	}
}
