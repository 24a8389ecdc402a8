package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"time"
	"unicode"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
	"github.com/placeos-go/engine/plugin/metadata"
	"github.com/placeos-go/engine/plugin/proto"
)

// bindError is a bad-arguments failure whose message names the function and parameter.
type bindError struct {
	msg  string
	kind error
}

func (e *bindError) Error() string { return e.msg }
func (e *bindError) Unwrap() error { return e.kind }

func badArgs(format string, args ...any) error {
	return &bindError{msg: fmt.Sprintf(format, args...), kind: ErrBadArguments}
}

// bind turns exec arguments (a JSON array, a JSON object, or nothing) into the argument struct.
func (fn *function) bind(raw []byte) (reflect.Value, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 {
		if err := jsonscan.Check(raw); err != nil {
			return reflect.Value{}, badArgs("arguments for '%s': %v", fn.name, err)
		}
	}
	named := map[string]json.RawMessage{}
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return reflect.Value{}, badArgs("arguments for '%s': %v", fn.name, err)
		}
		if len(list) > len(fn.params) {
			return reflect.Value{}, badArgs("wrong number of arguments for '%s' (given %d, expected %d)", fn.name, len(list), len(fn.params))
		}
		for i, v := range list {
			named[fn.params[i].name] = v
		}
	case raw[0] == '{':
		if err := json.Unmarshal(raw, &named); err != nil {
			return reflect.Value{}, badArgs("arguments for '%s': %v", fn.name, err)
		}
		for k := range named {
			if !fn.hasParam(k) {
				return reflect.Value{}, badArgs("unknown argument '%s' for '%s' (parameters: %s)", k, fn.name, fn.paramList())
			}
		}
	default:
		return reflect.Value{}, badArgs("arguments for '%s' must be a JSON array or object", fn.name)
	}
	if fn.args == nil {
		return reflect.Value{}, nil
	}
	args := reflect.New(fn.args).Elem()
	for i := range fn.params {
		p := &fn.params[i]
		v, ok := named[p.name]
		if !ok {
			if p.def == nil {
				return reflect.Value{}, badArgs("missing argument '%s' for '%s'", p.name, fn.name)
			}
			v = p.def
		}
		if p.noNulls && bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return reflect.Value{}, badArgs("argument '%s' of '%s' must not be null (%s)", p.name, fn.name, p.schema.Title)
		}
		field := args.FieldByIndex(p.index)
		if err := json.Unmarshal(v, field.Addr().Interface()); err != nil {
			return reflect.Value{}, badArgs("argument '%s' of '%s': cannot use %s as %s", p.name, fn.name, abbreviate(v), p.schema.Title)
		}
		if err := p.check(field); err != nil {
			return reflect.Value{}, badArgs("argument '%s' of '%s': %v", p.name, fn.name, err)
		}
	}
	return args, nil
}

func (fn *function) hasParam(name string) bool {
	for _, p := range fn.params {
		if p.name == name {
			return true
		}
	}
	return false
}

func (fn *function) paramList() string {
	names := make([]string, len(fn.params))
	for i, p := range fn.params {
		names[i] = p.name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func abbreviate(v []byte) string {
	if len(v) > 64 {
		return string(v[:61]) + "..."
	}
	return string(v)
}

// Exec runs a function of a module (plugin.Driver). Every failure is an ExecResponse, never a
// gRPC error, so the host can tell a driver's answer from a broken connection.
func (r *driverRuntime) Exec(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
	m := r.module(req.GetModuleId())
	if m == nil || !m.enter() {
		if err := r.loadError(req.GetModuleId()); err != nil {
			return failure(503, "LoadError", err.Error(), nil), nil
		}
		return failure(404, "ModuleNotFound", fmt.Sprintf("module %s is not running in this driver", req.GetModuleId()), nil), nil
	}
	defer m.wg.Done()
	m.calls.Add(1)
	defer m.calls.Add(-1)
	fn := r.dt.byName[req.GetFunction()]
	if fn == nil {
		return failure(400, "BadRequest", fmt.Sprintf("execute requested for unknown function: '%s' on %s%s",
			req.GetFunction(), r.name, metadata.UnknownFunctionHint(req.GetFunction(), r.dt.names())), nil), nil
	}
	ctx = context.WithValue(ctx, callKey, &call{userID: req.GetUserId(), requestID: req.GetRequestId(), log: m.log, exec: true})
	args, err := fn.bind(req.GetArgsJson())
	if err != nil {
		Log(ctx).Debug("exec rejected", "function", fn.name, "error", err)
		return failure(400, "BadRequest", err.Error(), nil), nil
	}
	if m.log.IsTrace() {
		Log(ctx).Trace("exec", "function", fn.name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel) // unloading the module aborts its calls
	defer stop()

	resp := m.call(ctx, fn, args)
	// Statuses the function set reach the host before its caller sees the result. A call ended
	// by its module's stop or by its caller has no one to keep that order for: the unload, which
	// waits for the call, or the status worker still delivers them, so only a flush that fails
	// otherwise is news.
	if err := m.out.flush(ctx); err != nil && ctx.Err() == nil && m.ctx.Err() == nil {
		Log(ctx).Warn("statuses not flushed before exec returned", "function", fn.name, "error", err)
	}
	return resp, nil
}

func (m *module) call(ctx context.Context, fn *function, args reflect.Value) (resp *proto.ExecResponse) {
	defer func() {
		if p := recover(); p != nil {
			stack := panicStack()
			Log(ctx).Error("function panicked", "function", fn.name, "panic", fmt.Sprint(p), "stack", strings.Join(stack, "\n"))
			resp = failure(500, "Panic", fmt.Sprint(p), stack)
		}
	}()
	in := make([]reflect.Value, 0, 2)
	if fn.hasCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	if fn.args != nil {
		in = append(in, args)
	}
	out := reflect.ValueOf(m.drv).Method(fn.index).Call(in)
	if fn.hasErr {
		if errv := out[len(out)-1]; !errv.IsNil() {
			err := errv.Interface().(error)
			Log(ctx).Debug("function failed", "function", fn.name, "error", err)
			return errorResponse(err)
		}
	}
	result := []byte("null")
	if fn.result {
		v := out[0].Interface()
		if t, ok := v.(*Task); ok && t != nil {
			// A function that returns its queued command answers with the command's outcome.
			var err error
			if v, err = t.Wait(ctx); err != nil {
				Log(ctx).Debug("command failed", "function", fn.name, "error", err)
				return errorResponse(err)
			}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return failure(500, "EncodeError", fmt.Sprintf("result of '%s' cannot be encoded as JSON: %v", fn.name, err), nil)
		}
		result = b
	}
	return &proto.ExecResponse{ResultJson: result, Code: 200}
}

// panicStack is the stack of a goroutine that is recovering from a panic, one line per element:
// the frames of the code that panicked, with their file:line, are in it.
func panicStack() []string {
	return strings.Split(strings.TrimSpace(string(debug.Stack())), "\n")
}

func failure(code int, class, msg string, backtrace []string) *proto.ExecResponse {
	return &proto.ExecResponse{
		ResultJson: []byte("null"),
		Code:       int32(code),
		Error:      &proto.ExecError{Class: class, Message: msg, Backtrace: backtrace},
	}
}

// Error is a failure with an HTTP-style code and an error class, the one error type of a
// driver author: a driver function returns it to choose what its caller gets
// (sdk.Errorf(409, ...), or &sdk.Error{Status: 400, Kind: "ERR2", Err: err}); a call of another
// module's function that failed returns it (Base.Exec, Proxy.Exec: Status and Kind as that
// driver chose, Err its message); and sdktest reports a failed exec as one (Result.Err). Check
// for it with errors.As.
type Error struct {
	Status int    // HTTP-style code, 500 when zero
	Kind   string // error class, "Error" when empty
	Err    error  // the message
	// Backtrace is the failing driver's backtrace, when it sent one (a panic's stack, file:line
	// per frame); a driver function's own Error leaves it empty.
	Backtrace []string
	// RetryAfter tells the caller when to try again, with a 503 for a device that is busy for a
	// known while (warming up): a REST answer carries it as Retry-After (whole seconds, rounded
	// up). Zero for no hint.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Class()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Code is the HTTP-style code the caller receives.
func (e *Error) Code() int {
	if e.Status == 0 {
		return 500
	}
	return e.Status
}

// Class is the error class the caller receives.
func (e *Error) Class() string {
	if e.Kind == "" {
		return "Error"
	}
	return e.Kind
}

// Errorf returns an error that reaches the caller with the given code, e.g.
// sdk.Errorf(409, "display is warming up").
func Errorf(code int, format string, args ...any) error {
	return &Error{Status: code, Err: fmt.Errorf(format, args...)}
}

// errorResponse maps an error returned by a driver function. An *Error (also one a call of
// another module returned, passed on) chooses the code, class and backtrace; so may any error
// with the methods Code() int, Class() string and Backtrace() []string.
func errorResponse(err error) *proto.ExecResponse {
	code, class := 500, errorClass(err)
	var backtrace []string
	var de *errkind.DriverError
	if errors.As(err, &de) { // the engine's own type, which some older mocks return
		class, backtrace = de.Class, de.Backtrace
		if de.Code != 0 {
			code = de.Code
		}
	}
	var coder interface{ Code() int }
	if errors.As(err, &coder) && coder.Code() != 0 {
		code = coder.Code()
	}
	var classer interface{ Class() string }
	if errors.As(err, &classer) {
		class = classer.Class()
	}
	var tracer interface{ Backtrace() []string }
	if errors.As(err, &tracer) {
		backtrace = tracer.Backtrace()
	}
	resp := failure(code, class, err.Error(), nil)
	var se *Error
	if errors.As(err, &se) {
		if len(se.Backtrace) > 0 {
			backtrace = se.Backtrace
		}
		resp.Error.RetryAfterMs = se.RetryAfter.Milliseconds()
	}
	resp.Error.Backtrace = backtrace
	return resp
}

// execError is the *Error of a failed exec's response, nil for a success.
func execError(resp *proto.ExecResponse) error {
	e := resp.GetError()
	if e == nil {
		return nil
	}
	return &Error{Status: int(resp.GetCode()), Kind: e.GetClass(), Err: errors.New(e.GetMessage()), Backtrace: e.GetBacktrace(),
		RetryAfter: time.Duration(e.GetRetryAfterMs()) * time.Millisecond}
}

func errorClass(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	case errors.Is(err, context.Canceled):
		return "Abort"
	}
	t := reflect.TypeOf(err)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if name := t.Name(); name != "" && unicode.IsUpper(rune(name[0])) {
		return name
	}
	return "Error"
}
