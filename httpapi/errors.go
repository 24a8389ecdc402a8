package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/placeos-go/engine/errkind"
)

// Sentinel errors of this package. Handlers return errors wrapping these (or any errkind kind);
// Classify is the one place that turns them into HTTP statuses and PlaceOS error codes.
var (
	ErrSystemNotFound   = errkind.New(errkind.NotFound, "system not found")
	ErrModuleNotFound   = errkind.New(errkind.NotFound, "module not found")
	ErrDriverNotFound   = errkind.New(errkind.NotFound, "driver not loaded on this node")
	ErrRouteNotFound    = errkind.New(errkind.NotFound, "no such route")
	ErrFunctionNotFound = errkind.New(errkind.BadRequest, "function not found")
	ErrBadArguments     = errkind.New(errkind.BadRequest, "bad arguments")
	ErrBadSlug          = errkind.New(errkind.BadRequest, "bad module slug")
	ErrBadParameter     = errkind.New(errkind.BadRequest, "bad parameter")
	ErrBadBody          = errkind.New(errkind.BadRequest, "body must be a JSON array or object")
	ErrMalformedJSON    = errkind.New(errkind.BadRequest, "malformed JSON")
	ErrBodyTooLarge     = errkind.New(errkind.BadRequest, "request body too large")
	ErrMethodNotAllowed = errkind.New(errkind.BadRequest, "method not allowed")
	ErrAccessDenied     = errkind.New(errkind.Forbidden, "access denied")
	ErrUnauthenticated  = errkind.New(errkind.Unauthorized, "missing or invalid credentials")
	ErrBadAuthConfig    = errkind.New(errkind.BadRequest, "bad authentication configuration")
	ErrUnavailable      = errkind.New(errkind.Unavailable, "not available on this engine")
	ErrBadMetadata      = errkind.New(errkind.Internal, "driver metadata does not parse")
	errCorruptStatus    = errkind.New(errkind.Internal, "stored status is not valid JSON")
	errPanic            = errkind.New(errkind.Internal, "handler panicked")
)

// detailError is a sentinel with a caller-facing message and an optional cause, so that
// errors.Is finds both the sentinel (and through it the kind) and whatever caused it.
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

// fail builds an error of sentinel's kind whose message is what the client reads.
func fail(sentinel, cause error, format string, args ...any) error {
	return &detailError{sentinel: sentinel, msg: fmt.Sprintf(format, args...), cause: cause}
}

// ErrorCode is the PlaceOS error code (PROTOCOL §7): the WebSocket sends the number as
// error_code, REST sends the name as "error".
type ErrorCode int

// The PlaceOS error codes, numbered as on the wire.
const (
	CodeParseError ErrorCode = iota
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

func (c ErrorCode) String() string {
	if c < 0 || int(c) >= len(codeNames) {
		return "unexpected_failure"
	}
	return codeNames[c]
}

// StatusClientClosedRequest is logged (never really seen by anyone) when the caller went away
// before the answer was ready; the nginx convention keeps such lines apart from real failures.
const StatusClientClosedRequest = 499

// Problem is how an error presents to a client.
type Problem struct {
	Status    int       // HTTP status (the WebSocket's "code")
	Code      ErrorCode // PlaceOS error code
	Message   string    // safe to show the caller
	Backtrace []string  // the driver's, when it raised
	// Internal marks failures that are the engine's fault: logged at ERROR, and the message is
	// replaced so internals (addresses, file paths) do not leak to callers.
	Internal bool
}

// Classify maps any error to its Problem. It is the single source of the error mapping, shared
// by REST and (later) the WebSocket.
func Classify(err error) Problem {
	var de *errkind.DriverError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &de):
		p := Problem{Status: http.StatusInternalServerError, Code: CodeRequestFailed, Message: de.Error(), Backtrace: de.Backtrace}
		// Argument binding failures are raised inside the driver, but for the caller they are
		// bad input, the same as a pre-check failure here.
		if de.Class == "BadRequest" || de.Class == "ArgumentError" || de.Code == http.StatusBadRequest {
			p.Status, p.Code = http.StatusBadRequest, CodeBadRequest
		}
		if de.Code >= 400 && de.Code <= 599 {
			p.Status = de.Code
		}
		return p
	case errors.As(err, &mbe), errors.Is(err, ErrBodyTooLarge):
		msg := "request body too large"
		if mbe != nil {
			msg = fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)
		}
		return Problem{Status: http.StatusRequestEntityTooLarge, Code: CodeBadRequest, Message: msg}
	case errors.Is(err, ErrMalformedJSON):
		return Problem{Status: http.StatusBadRequest, Code: CodeParseError, Message: err.Error()}
	case errors.Is(err, ErrRouteNotFound):
		// A wrong URL is the caller's mistake, not a missing module.
		return Problem{Status: http.StatusNotFound, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, ErrMethodNotAllowed):
		return Problem{Status: http.StatusMethodNotAllowed, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, ErrSystemNotFound):
		return Problem{Status: http.StatusNotFound, Code: CodeSystemNotFound, Message: err.Error()}
	case errors.Is(err, errkind.NotFound):
		return Problem{Status: http.StatusNotFound, Code: CodeModuleNotFound, Message: err.Error()}
	case errors.Is(err, errkind.BadRequest):
		return Problem{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, errkind.Unauthorized):
		return Problem{Status: http.StatusUnauthorized, Code: CodeAccessDenied, Message: err.Error()}
	case errors.Is(err, errkind.Forbidden):
		return Problem{Status: http.StatusForbidden, Code: CodeAccessDenied, Message: err.Error()}
	case errors.Is(err, errkind.Conflict):
		return Problem{Status: http.StatusConflict, Code: CodeBadRequest, Message: err.Error()}
	case errors.Is(err, errkind.Timeout), errors.Is(err, context.DeadlineExceeded):
		return Problem{Status: http.StatusGatewayTimeout, Code: CodeUnexpectedFailure, Message: err.Error()}
	case errors.Is(err, errkind.Unavailable):
		return Problem{Status: http.StatusServiceUnavailable, Code: CodeUnexpectedFailure, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return Problem{Status: StatusClientClosedRequest, Code: CodeUnexpectedFailure, Message: "request cancelled"}
	}
	return Problem{Status: http.StatusInternalServerError, Code: CodeUnexpectedFailure, Message: "unexpected failure", Internal: true}
}

// ErrorBody is the JSON body of every error response (PROTOCOL §6). Fields that do not apply to
// the route are omitted.
type ErrorBody struct {
	Error      string   `json:"error"`
	Message    string   `json:"message"`
	SysID      string   `json:"sys_id,omitempty"`
	ModuleName string   `json:"module_name,omitempty"`
	Index      int      `json:"index,omitempty"`
	ModuleID   string   `json:"module_id,omitempty"`
	Backtrace  []string `json:"backtrace,omitempty"`
}

// target is what a request addressed, echoed in error bodies and log lines.
type target struct {
	SysID    string
	Name     string
	Index    int
	ModuleID string
}

// writeError answers r with err's Problem and logs it at a level matching whose fault it is.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, t target) {
	p := Classify(err)
	rid := RequestID(r.Context())
	msg := p.Message
	if p.Internal {
		msg = fmt.Sprintf("unexpected failure (request id %s)", rid)
	}
	body := ErrorBody{
		Error: p.Code.String(), Message: msg,
		SysID: t.SysID, ModuleName: t.Name, Index: t.Index, ModuleID: t.ModuleID,
		Backtrace: p.Backtrace,
	}
	if p.Status == http.StatusServiceUnavailable {
		// Driver restarts and re-elections are short; tell well-behaved clients when to retry.
		w.Header().Set("Retry-After", "1")
	}
	log := s.log.With("request_id", rid, "method", r.Method, "path", r.URL.Path, "status", p.Status, "error", err)
	if t.ModuleID != "" {
		log = log.With("module", t.ModuleID)
	}
	switch {
	case p.Internal:
		log.Error("request failed")
	case p.Status >= 500 && p.Status != http.StatusInternalServerError:
		log.Warn("request failed")
	default:
		log.Debug("request failed")
	}
	writeJSON(w, p.Status, body)
}
