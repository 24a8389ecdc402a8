package httpwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
)

// Base paths of the two route families.
const (
	ClientBase = "/api/engine/v2" // the PlaceOS-compatible client API
	NodeBase   = "/api/core/v1"   // this node: health, drivers, and the node-to-node routes
)

// RequestIDHeader carries the request id in and out of every request.
const RequestIDHeader = "X-Request-ID"

// requestIDHeaderKey is RequestIDHeader as net/http keys its header maps ("X-Request-Id"): Get and Set
// would canonicalize the name, allocating, on every request.
var requestIDHeaderKey = http.CanonicalHeaderKey(RequestIDHeader)

// GetRequestID is the request id header of h ("" when absent).
func GetRequestID(h http.Header) string {
	if v := h[requestIDHeaderKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// SetRequestID sets the request id header of h.
func SetRequestID(h http.Header, id string) { h[requestIDHeaderKey] = []string{id} }

// SetRequestIDValue sets the request id header of h to id, the only element of a slice the
// caller provides (and no longer changes): SetRequestID without its allocation.
func SetRequestIDValue(h http.Header, id []string) { h[requestIDHeaderKey] = id[:1:1] }

type requestIDKey struct{}

// RequestIDKey is the context key RequestID reads, for a Context type of its own that carries the
// id among other values in one allocation (the HTTP server's per request): its Value answers
// RequestIDKey with a *string, which it must not change afterwards.
var RequestIDKey any = requestIDKey{}

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id of the request ctx belongs to ("" outside a request).
func RequestID(ctx context.Context) string {
	switch id := ctx.Value(requestIDKey{}).(type) {
	case string:
		return id
	case *string:
		if id != nil {
			return *id
		}
	}
	return ""
}

// NewRequestID is a random UUID (version 4), the form PlaceOS clients expect. Its bits come from
// math/rand/v2, the runtime's per-thread ChaCha8 generator, not crypto/rand: every request that
// arrives without an X-Request-ID gets one, and crypto/rand's system call was a measurable part
// of an execute. A request id is not a secret: clients choose their own, and nothing grants
// anything to whoever knows one (a driver's calls back are matched by its module too).
func NewRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	hex.Encode(s[9:13], b[4:6])
	hex.Encode(s[14:18], b[6:8])
	hex.Encode(s[19:23], b[8:10])
	hex.Encode(s[24:36], b[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// AcceptableRequestID keeps a caller's id only when it is safe to echo into headers and logs.
func AcceptableRequestID(id string) bool {
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

// ErrorBody is the JSON body of every error response (docs/protocol.md §6). Fields that do not
// apply to the route are omitted.
type ErrorBody struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	SysID      string `json:"sys_id,omitempty"`
	ModuleName string `json:"module_name,omitempty"`
	Index      int    `json:"index,omitempty"`
	ModuleID   string `json:"module_id,omitempty"`
	// Class is the class of a failure the driver raised (e.g. "ArgumentError"), absent otherwise.
	Class     string   `json:"class,omitempty"`
	Backtrace []string `json:"backtrace,omitempty"`
	// RetryAfterMs is the hint a driver raised with (when to try again), as Retry-After says in
	// whole seconds: a node that forwarded the call reads it back, so the answer is the same
	// whichever node the client called.
	RetryAfterMs int64 `json:"retry_after_ms,omitempty"`
	// State names the state of the node that answered, one retrying does not end (errkind.WithState:
	// "not a member").
	State string `json:"state,omitempty"`
}

// WriteError answers r with err as errkind.Classify presents it, echoing the target the request
// addressed, and logs it at a level matching whose fault it is.
func WriteError(w http.ResponseWriter, r *http.Request, log hclog.Logger, err error, t call.Target) {
	p := errkind.Classify(err)
	rid := RequestID(r.Context())
	msg := p.Message
	if p.Internal {
		msg = fmt.Sprintf("unexpected failure (request id %s)", rid)
	}
	body := ErrorBody{
		Error: p.Name, Message: msg,
		SysID: t.SystemID, ModuleName: t.Name, Index: t.Index, ModuleID: t.ModuleID,
		Backtrace: p.Backtrace, RetryAfterMs: p.RetryAfter.Milliseconds(), State: p.State,
	}
	if p.Raised {
		body.Class = p.Class
	}
	switch {
	case p.State != "":
		// The node stays in that state until an operator acts (errkind.WithState): no hint
		// that a retry in a second could succeed.
	case p.RetryAfter > 0:
		// The driver knows its device (a projector warming up), or the engine when it will
		// next try what failed (a module's start): whole seconds, rounded up.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((p.RetryAfter+time.Second-1)/time.Second), 10))
	case p.Status == http.StatusServiceUnavailable:
		// Driver restarts and re-elections are short; tell well-behaved clients when to retry.
		w.Header().Set("Retry-After", "1")
	}
	l := log.With("request_id", rid, "method", r.Method, "path", r.URL.Path, "status", p.Status, "error", err)
	if t.ModuleID != "" {
		l = l.With("module", t.ModuleID)
	}
	switch {
	case p.Internal:
		l.Error("request failed")
	case p.Raised, p.RetryAfter > 0, p.State != "":
		// The driver's own answer (a projector warming up says 503 to every poll): the device's
		// state, counted in the exec metrics by class, not a fault of the node. Likewise a call
		// of a module whose start is failing, told when to retry: the failure is logged where
		// the start fails, not again for every client that polls the module; and a node's state
		// (not a member), logged where the node finds it.
		l.Debug("request failed")
	case p.Status >= 500 && p.Status != http.StatusInternalServerError:
		l.Warn("request failed")
	default:
		l.Debug("request failed")
	}
	WriteJSON(w, p.Status, body)
}

// ProblemOf reads an error response back into an error of the kind that caused it (for a node
// that forwarded the request, so that its caller sees the failure as if it happened there).
func ProblemOf(status int, body []byte, from string) error {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) != nil || eb.Message == "" {
		eb.Message = fmt.Sprintf("node %s answered %d", from, status)
	}
	return errkind.FromProblem(status, eb.Error, eb.Message, eb.Class, eb.Backtrace, errkind.RetryAfterMs(eb.RetryAfterMs))
}

// WriteJSON encodes v as the response body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug in the engine gets here; answer something valid.
		status = http.StatusInternalServerError
		body = []byte(`{"error":"unexpected_failure","message":"response does not encode as JSON"}`)
	}
	WriteRaw(w, status, body)
}

// jsonContentType is the Content-Type header value of every answer, shared: net/http only reads
// it, and Set would allocate a slice per answer.
var jsonContentType = []string{"application/json"}

// WriteRaw sends JSON text as is: driver results are passed through unchanged.
func WriteRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// ReadBody reads a request body, keeping a body-too-large error as it is (it answers 413).
func ReadBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errkind.Wrap(ErrBadBody, err, "reading the request body")
	}
	return data, nil
}

// DecodeJSON reads a JSON body into v.
func DecodeJSON(r *http.Request, v any) error {
	data, err := ReadBody(r)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return errkind.Wrap(ErrMalformedJSON, nil, "malformed JSON body: %v", err)
	}
	return nil
}

// ReadArgs reads an execute body: a JSON array (positional), a JSON object (named), or nothing
// at all (no arguments). The Content-Type is not checked: `curl -d '[]'` sends a form type and
// refusing it would only trip people up.
func ReadArgs(r *http.Request) (json.RawMessage, error) {
	body, err := ReadBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	// Checked before trimming, so that the offset an error names is the one in the body as sent.
	// That the text is UTF-8 the engine's execute checks, for every way a call comes in.
	if err := jsonscan.Check(body); err != nil {
		return nil, errkind.Wrap(ErrMalformedJSON, nil, "arguments: %v", err)
	}
	body = bytes.TrimSpace(body)
	if body[0] != '[' && body[0] != '{' {
		return nil, errkind.Wrap(ErrBadBody, nil, "request body must be a JSON array (positional arguments) or object (named arguments)")
	}
	return body, nil
}

// Timeout reads ?timeout=<milliseconds>, the deadline a caller asks for; zero when absent. The
// engine caps it at its own execute timeout: a caller can shorten the deadline, never extend it.
func Timeout(r *http.Request) (time.Duration, error) {
	if r.URL.RawQuery == "" {
		return 0, nil // the usual case: no query to parse (URL.Query allocates a map)
	}
	q := r.URL.Query().Get("timeout")
	if q == "" {
		return 0, nil
	}
	ms, err := strconv.ParseInt(q, 10, 64)
	if err != nil || ms <= 0 || ms > int64(time.Duration(1<<62)/time.Millisecond) {
		return 0, errkind.Wrap(ErrBadParameter, nil, "timeout must be a positive number of milliseconds, got %q", q)
	}
	return time.Duration(ms) * time.Millisecond, nil
}
