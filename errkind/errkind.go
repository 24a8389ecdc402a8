package errkind

import (
	"errors"
	"fmt"
	"time"
)

// The kinds. docs/protocol.md §6 and §7 give the HTTP status and PlaceOS error code of each.
var (
	NotFound     = errors.New("not found")          // 404; module_not_found / system_not_found / not_found
	BadRequest   = errors.New("bad request")        // 400; bad_request (no such function, bad arguments)
	Unauthorized = errors.New("unauthorized")       // 401; missing or invalid credentials
	Forbidden    = errors.New("access denied")      // 403; access_denied
	Conflict     = errors.New("conflict")           // 409
	Unavailable  = errors.New("unavailable")        // 503; owner unreachable, driver restarting
	Timeout      = errors.New("deadline exceeded")  // 504
	Internal     = errors.New("unexpected failure") // 500; unexpected_failure
)

// kindError is a sentinel that belongs to a kind.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// New returns a sentinel error with message msg that is of the given kind.
func New(kind error, msg string) error { return &kindError{kind: kind, msg: msg} }

// Wrap returns an error of the given kind with a formatted message wrapping err (which may be nil).
func Wrap(kind error, err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if err == nil {
		return &kindError{kind: kind, msg: msg}
	}
	return fmt.Errorf("%s: %w", msg, &wrapped{kind: kind, err: err})
}

type wrapped struct {
	kind error
	err  error
}

func (w *wrapped) Error() string   { return w.err.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.err, w.kind} }

// DriverError is a failure raised inside a driver function: the caller gets it as a result with
// the driver's class, message and backtrace (HTTP 500 unless the driver chose a code;
// request_failed on the WebSocket).
type DriverError struct {
	Class     string
	Message   string
	Backtrace []string
	Code      int
	// RetryAfter is when the driver says the caller may try again (a busy device), 0 for no
	// hint; REST answers carry it as Retry-After. Read it from the wire with RetryAfterMs.
	RetryAfter time.Duration
}

// MaxRetryAfter bounds a driver's retry hint: a device busy for longer is as good as down.
const MaxRetryAfter = 24 * time.Hour

// RetryAfterMs is a retry hint as a driver or another node sent it, in milliseconds: 0 (no hint)
// when it is not positive, at most MaxRetryAfter.
func RetryAfterMs(ms int64) time.Duration {
	if ms <= 0 {
		return 0
	}
	return time.Duration(min(ms, MaxRetryAfter.Milliseconds())) * time.Millisecond
}

func (e *DriverError) Error() string {
	if e.Class == "" {
		return e.Message
	}
	return e.Message + " (" + e.Class + ")"
}
