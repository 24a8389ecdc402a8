package auth

import "github.com/placeos-go/engine/errkind"

var (
	// ErrUnauthenticated: missing or invalid credentials (401).
	ErrUnauthenticated = errkind.New(errkind.Unauthorized, "missing or invalid credentials")
	// ErrBadConfig: the API keys file, JWT key or secret cannot be used.
	ErrBadConfig = errkind.New(errkind.BadRequest, "bad authentication configuration")
)

// detailError is a sentinel with a caller-facing message and an optional cause.
type detailError struct {
	sentinel error
	msg      string
	cause    error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.sentinel}
	}
	return []error{e.sentinel, e.cause}
}

func unauthenticated(cause error, msg string) error {
	return &detailError{sentinel: ErrUnauthenticated, msg: msg, cause: cause}
}
