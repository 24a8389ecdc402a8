package errkind

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Refinements of the kinds above: each is also its parent kind (errors.Is finds both), and tells
// the mapping below something its parent cannot.
var (
	SystemNotFound = New(NotFound, "system not found") // 404 system_not_found
	// EntityNotFound is a management entity (repository, driver, zone, system or module of the
	// model) that does not exist: 404 not_found on REST. Calling a missing zone a missing module
	// would send a client looking in the wrong place.
	EntityNotFound   = New(NotFound, "not found")
	NoRoute          = New(NotFound, "no such route")        // 404 bad_request: a wrong URL, not a missing module
	Malformed        = New(BadRequest, "malformed JSON")     // 400 parse_error
	TooLarge         = New(BadRequest, "too large")          // 413
	MethodNotAllowed = New(BadRequest, "method not allowed") // 405
	// TooMany is a limit the caller reached (sessions, bindings): 429, retry later or use less.
	TooMany = New(BadRequest, "too many")
)

// Code is a PlaceOS error code: the WebSocket sends the number as error_code, REST sends the
// name as "error" (docs/protocol.md §6 and §7).
type Code int

// The PlaceOS error codes, numbered as on the wire.
const (
	CodeParseError Code = iota
	CodeBadRequest
	CodeAccessDenied
	CodeRequestFailed
	CodeUnknownCommand
	CodeSystemNotFound
	CodeModuleNotFound
	CodeUnexpectedFailure
)

var codeNames = [...]string{
	"parse_error", "bad_request", "access_denied", "request_failed",
	"unknown_command", "system_not_found", "module_not_found", "unexpected_failure",
}

func (c Code) String() string {
	if c < 0 || int(c) >= len(codeNames) {
		return "unexpected_failure"
	}
	return codeNames[c]
}

// REST error names that refine a PlaceOS code. PlaceOS's WebSocket error_code set is fixed (0–7)
// and has no "not authenticated", "not found, and not a module" or "try again shortly", so the
// WebSocket keeps the nearest code while REST names the failure exactly (docs/protocol.md §6.2,
// §7.6). A 503 is not an unexpected failure: the client should retry (Retry-After), not report a
// bug, and a client or proxy that tells the two apart by name needs a name of its own for it.
const (
	NameUnauthorized   = "unauthorized" // 401: missing or invalid credentials (code access_denied)
	NameEntityNotFound = "not_found"    // 404: a management entity (code module_not_found)
	NameUnavailable    = "unavailable"  // 503: retry later (code unexpected_failure)
)

// StatusClientClosedRequest is logged (never really seen by anyone) when the caller went away
// before the answer was ready; the nginx convention keeps such lines apart from real failures.
const StatusClientClosedRequest = 499

// Problem is how an error presents to whoever asked: an HTTP client, a WebSocket client, a
// driver that called another module, or the node that forwarded a call here.
type Problem struct {
	Status    int    // HTTP status (the WebSocket's "code", the driver's ExecResponse code)
	Code      Code   // PlaceOS error code: the WebSocket's error_code
	Name      string // REST's "error": Code's name, or a finer one (NameUnauthorized, NameEntityNotFound, NameUnavailable)
	Class     string // the class a calling driver sees, e.g. "NotFound", or the one a driver raised
	Message   string // safe to show the caller unless Internal
	Backtrace []string
	// Internal marks failures that are the engine's fault: logged at ERROR, and the message is
	// replaced so that internals (addresses, file paths) do not leak to callers.
	Internal bool
	// Raised marks a failure a driver raised (Class is then the driver's).
	Raised bool
	// RetryAfter is when the caller may try again (a driver's hint, or the engine's:
	// WithRetryAfter), 0 for no hint.
	RetryAfter time.Duration
	// State names a state of the node that answered which retrying does not end, only an
	// operator (WithState: "not a member"); "" for none.
	State string
}

// mapping is the one table between kinds and what callers see, most specific first. Classify
// reads it forwards (error -> Problem), FromProblem backwards (a peer's answer -> error).
var mapping = []struct {
	kind   error
	status int
	code   Code
	name   string // REST's "error" when finer than the code's name
	class  string
	also   error // a standard library error that counts as this kind
}{
	{TooLarge, http.StatusRequestEntityTooLarge, CodeBadRequest, "", "BadRequest", nil},
	{Malformed, http.StatusBadRequest, CodeParseError, "", "BadRequest", nil},
	{NoRoute, http.StatusNotFound, CodeBadRequest, "", "NotFound", nil},
	{MethodNotAllowed, http.StatusMethodNotAllowed, CodeBadRequest, "", "BadRequest", nil},
	{TooMany, http.StatusTooManyRequests, CodeBadRequest, "", "TooMany", nil},
	{SystemNotFound, http.StatusNotFound, CodeSystemNotFound, "", "NotFound", nil},
	{EntityNotFound, http.StatusNotFound, CodeModuleNotFound, NameEntityNotFound, "NotFound", nil},
	{NotFound, http.StatusNotFound, CodeModuleNotFound, "", "NotFound", nil},
	{BadRequest, http.StatusBadRequest, CodeBadRequest, "", "BadRequest", nil},
	{Unauthorized, http.StatusUnauthorized, CodeAccessDenied, NameUnauthorized, "Unauthorized", nil},
	{Forbidden, http.StatusForbidden, CodeAccessDenied, "", "AccessDenied", nil},
	{Conflict, http.StatusConflict, CodeBadRequest, "", "Conflict", nil},
	{Timeout, http.StatusGatewayTimeout, CodeUnexpectedFailure, "", "Timeout", context.DeadlineExceeded},
	{Unavailable, http.StatusServiceUnavailable, CodeUnexpectedFailure, NameUnavailable, "Unavailable", nil},
	{Internal, http.StatusInternalServerError, CodeUnexpectedFailure, "", "UnexpectedFailure", nil},
}

// restName is the REST error name of a code, refined by name when the mapping has one.
func restName(code Code, name string) string {
	if name != "" {
		return name
	}
	return code.String()
}

// Classify maps any error to its Problem. It is the single source of the error mapping: REST,
// the WebSocket, the driver callbacks and the node-to-node routes all present errors through it.
func Classify(err error) Problem {
	var de *DriverError
	if errors.As(err, &de) {
		// The driver's own code wins; else argument binding failures, raised inside the driver,
		// are bad input for the caller, the same as the engine's own pre-check.
		p := Problem{Status: http.StatusInternalServerError, Code: CodeRequestFailed, Class: de.Class,
			Message: de.Error(), Backtrace: de.Backtrace, Raised: true, RetryAfter: de.RetryAfter}
		switch {
		case de.Code >= 400 && de.Code <= 599 && de.Code != http.StatusInternalServerError:
			p.Status = de.Code
		case de.Class == "BadRequest" || de.Class == "ArgumentError":
			p.Status = http.StatusBadRequest
		}
		if p.Status == http.StatusBadRequest {
			p.Code = CodeBadRequest
		}
		p.Name = p.Code.String()
		return p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Problem{Status: http.StatusRequestEntityTooLarge, Code: CodeBadRequest, Name: CodeBadRequest.String(),
			Class: "BadRequest", Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	}
	for _, m := range mapping {
		if m.kind != Internal && (errors.Is(err, m.kind) || (m.also != nil && errors.Is(err, m.also))) {
			p := Problem{Status: m.status, Code: m.code, Name: restName(m.code, m.name), Class: m.class, Message: err.Error()}
			var rh *retryHint
			if errors.As(err, &rh) {
				p.RetryAfter = rh.after
			}
			var sn *stateNote
			if errors.As(err, &sn) {
				p.State = sn.state
			}
			return p
		}
	}
	if errors.Is(err, context.Canceled) {
		return Problem{Status: StatusClientClosedRequest, Code: CodeUnexpectedFailure, Name: CodeUnexpectedFailure.String(),
			Class: "Canceled", Message: "request cancelled"}
	}
	return Problem{Status: http.StatusInternalServerError, Code: CodeUnexpectedFailure, Name: CodeUnexpectedFailure.String(),
		Class: "UnexpectedFailure", Message: "unexpected failure", Internal: true}
}

// FromProblem turns the answer of another node back into an error of the kind it came from, so
// that a failure reaches the original caller as if it had happened on this node. name is the
// REST error name of the answer (Problem.Name; "" if it had none); class is the class of a
// failure a driver raised ("" for the engine's own), retryAfter the hint it raised with.
func FromProblem(status int, name, message, class string, backtrace []string, retryAfter time.Duration) error {
	if class != "" || name == CodeRequestFailed.String() {
		return &DriverError{Class: class, Message: strings.TrimSuffix(message, " ("+class+")"), Backtrace: backtrace, Code: status,
			RetryAfter: retryAfter}
	}
	kind := Internal
	for _, m := range mapping {
		if m.status == status && restName(m.code, m.name) == name {
			kind = m.kind
			break
		}
	}
	if kind == Internal {
		for _, m := range mapping {
			if m.status == status {
				kind = m.kind
				break
			}
		}
	}
	if status == http.StatusBadGateway {
		kind = Unavailable
	}
	return WithRetryAfter(&remote{Wrap(kind, nil, "%s", message)}, retryAfter)
}

// remote is a failure another node answered with: its message is the whole story, worded there.
type remote struct{ error }

func (e *remote) Unwrap() error { return e.error }

// IsRemote reports whether err is a failure of the engine's own that another node answered with
// (FromProblem): a layer that would add its own account of the failure (a deadline's, say)
// leaves it as the other node told it.
func IsRemote(err error) bool {
	var r *remote
	return errors.As(err, &r)
}

// retryHint is an error of the engine's own that says when the caller may try again.
type retryHint struct {
	error
	after time.Duration
}

func (e *retryHint) Unwrap() error { return e.error }

// WithRetryAfter adds a hint of when the caller may try again to err (REST answers carry it as
// Retry-After and retry_after_ms): when the engine itself will next try what failed, a
// module's start say. err itself when after is not positive.
func WithRetryAfter(err error, after time.Duration) error {
	if err == nil || after <= 0 {
		return err
	}
	return &retryHint{err, min(after, MaxRetryAfter)}
}

// stateNote is an error of the engine's own that names the state of the node that answered.
type stateNote struct {
	error
	state string
}

func (e *stateNote) Unwrap() error { return e.error }

// WithState names the state of this node that err comes from, one that lasts until an operator
// acts (a node that is not a member of the cluster): REST answers carry it as "state", and
// without a Retry-After, since retrying soon cannot succeed. err itself when state is "".
func WithState(err error, state string) error {
	if err == nil || state == "" {
		return err
	}
	return &stateNote{err, state}
}
