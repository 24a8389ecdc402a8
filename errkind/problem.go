package errkind

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Refinements of the kinds above: each is also its parent kind (errors.Is finds both), and tells
// the mapping below something its parent cannot.
var (
	SystemNotFound   = New(NotFound, "system not found")     // 404 system_not_found
	NoRoute          = New(NotFound, "no such route")        // 404 bad_request: a wrong URL, not a missing module
	Malformed        = New(BadRequest, "malformed JSON")     // 400 parse_error
	TooLarge         = New(BadRequest, "too large")          // 413
	MethodNotAllowed = New(BadRequest, "method not allowed") // 405
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

// StatusClientClosedRequest is logged (never really seen by anyone) when the caller went away
// before the answer was ready; the nginx convention keeps such lines apart from real failures.
const StatusClientClosedRequest = 499

// Problem is how an error presents to whoever asked: an HTTP client, a WebSocket client, a
// driver that called another module, or the node that forwarded a call here.
type Problem struct {
	Status    int    // HTTP status (the WebSocket's "code", the driver's ExecResponse code)
	Code      Code   // PlaceOS error code
	Class     string // the class a calling driver sees, e.g. "NotFound", or the one a driver raised
	Message   string // safe to show the caller unless Internal
	Backtrace []string
	// Internal marks failures that are the engine's fault: logged at ERROR, and the message is
	// replaced so that internals (addresses, file paths) do not leak to callers.
	Internal bool
	// Raised marks a failure a driver raised (Class is then the driver's).
	Raised bool
}

// mapping is the one table between kinds and what callers see, most specific first. Classify
// reads it forwards (error -> Problem), FromProblem backwards (a peer's answer -> error).
var mapping = []struct {
	kind   error
	status int
	code   Code
	class  string
	also   error // a standard library error that counts as this kind
}{
	{TooLarge, http.StatusRequestEntityTooLarge, CodeBadRequest, "BadRequest", nil},
	{Malformed, http.StatusBadRequest, CodeParseError, "BadRequest", nil},
	{NoRoute, http.StatusNotFound, CodeBadRequest, "NotFound", nil},
	{MethodNotAllowed, http.StatusMethodNotAllowed, CodeBadRequest, "BadRequest", nil},
	{SystemNotFound, http.StatusNotFound, CodeSystemNotFound, "NotFound", nil},
	{NotFound, http.StatusNotFound, CodeModuleNotFound, "NotFound", nil},
	{BadRequest, http.StatusBadRequest, CodeBadRequest, "BadRequest", nil},
	{Unauthorized, http.StatusUnauthorized, CodeAccessDenied, "Unauthorized", nil},
	{Forbidden, http.StatusForbidden, CodeAccessDenied, "AccessDenied", nil},
	{Conflict, http.StatusConflict, CodeBadRequest, "Conflict", nil},
	{Timeout, http.StatusGatewayTimeout, CodeUnexpectedFailure, "Timeout", context.DeadlineExceeded},
	{Unavailable, http.StatusServiceUnavailable, CodeUnexpectedFailure, "Unavailable", nil},
	{Internal, http.StatusInternalServerError, CodeUnexpectedFailure, "UnexpectedFailure", nil},
}

// Classify maps any error to its Problem. It is the single source of the error mapping: REST,
// the WebSocket, the driver callbacks and the node-to-node routes all present errors through it.
func Classify(err error) Problem {
	var de *DriverError
	if errors.As(err, &de) {
		// The driver's own code wins; else argument binding failures, raised inside the driver,
		// are bad input for the caller, the same as the engine's own pre-check.
		p := Problem{Status: http.StatusInternalServerError, Code: CodeRequestFailed, Class: de.Class,
			Message: de.Error(), Backtrace: de.Backtrace, Raised: true}
		switch {
		case de.Code >= 400 && de.Code <= 599 && de.Code != http.StatusInternalServerError:
			p.Status = de.Code
		case de.Class == "BadRequest" || de.Class == "ArgumentError":
			p.Status = http.StatusBadRequest
		}
		if p.Status == http.StatusBadRequest {
			p.Code = CodeBadRequest
		}
		return p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Problem{Status: http.StatusRequestEntityTooLarge, Code: CodeBadRequest, Class: "BadRequest",
			Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	}
	for _, m := range mapping {
		if m.kind != Internal && (errors.Is(err, m.kind) || (m.also != nil && errors.Is(err, m.also))) {
			return Problem{Status: m.status, Code: m.code, Class: m.class, Message: err.Error()}
		}
	}
	if errors.Is(err, context.Canceled) {
		return Problem{Status: StatusClientClosedRequest, Code: CodeUnexpectedFailure, Class: "Canceled", Message: "request cancelled"}
	}
	return Problem{Status: http.StatusInternalServerError, Code: CodeUnexpectedFailure, Class: "UnexpectedFailure",
		Message: "unexpected failure", Internal: true}
}

// FromProblem turns the answer of another node back into an error of the kind it came from, so
// that a failure reaches the original caller as if it had happened on this node. code is the
// PlaceOS code name of the answer ("" if it had none); class is the class of a failure a driver
// raised ("" for the engine's own).
func FromProblem(status int, code, message, class string, backtrace []string) error {
	if class != "" || code == CodeRequestFailed.String() {
		return &DriverError{Class: class, Message: strings.TrimSuffix(message, " ("+class+")"), Backtrace: backtrace, Code: status}
	}
	kind := Internal
	for _, m := range mapping {
		if m.status == status && m.code.String() == code {
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
	return Wrap(kind, nil, "%s", message)
}
