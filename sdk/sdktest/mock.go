package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/proto"
)

// Func answers a call to a mock module's function. args is the JSON array or object the caller
// sent. Return an *errkind.DriverError to control the error class and code.
type Func func(ctx context.Context, args json.RawMessage) (any, error)

// Call is one call a mock module received.
type Call struct {
	Function string
	Args     json.RawMessage
	UserID   string
	From     string
}

// Mock is a module in the fake host's system that tests script: functions and statuses.
type Mock struct {
	h        *Host
	ID, Name string

	mu     sync.Mutex
	funcs  map[string]Func
	calls  []Call
	ifaces []string
}

// Implements declares the interfaces the mock reports in the system's module info, for logic
// drivers that call every module implementing one (SystemProxy.Implementing). Declare them
// before starting the module under test.
func (m *Mock) Implements(names ...string) *Mock {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ifaces = append(m.ifaces, names...)
	return m
}

func (m *Mock) implements() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ifaces...)
}

// On sets the handler of function fn.
func (m *Mock) On(fn string, f Func) *Mock {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.funcs[fn] = f
	return m
}

// Set sets a status of the mock module (nil deletes it); subscribers see the change.
func (m *Mock) Set(name string, value any) {
	if value == nil {
		m.h.setStatus(m.ID, name, nil, true)
		return
	}
	b, err := json.Marshal(value)
	if err != nil {
		panic(fmt.Sprintf("sdktest: mock status %s: %v", name, err))
	}
	m.h.setStatus(m.ID, name, b, false)
}

// Calls returns the calls received so far.
func (m *Mock) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Call(nil), m.calls...)
}

func (m *Mock) exec(ctx context.Context, r *proto.HostExecRequest) *proto.ExecResponse {
	m.mu.Lock()
	m.calls = append(m.calls, Call{r.GetFunction(), r.GetArgsJson(), r.GetUserId(), r.GetFromModule()})
	f := m.funcs[r.GetFunction()]
	m.mu.Unlock()
	if f == nil {
		return failure(400, "BadRequest", fmt.Sprintf("execute requested for unknown function: '%s' on %s", r.GetFunction(), m.Name))
	}
	v, err := f(ctx, r.GetArgsJson())
	if err != nil {
		var de *errkind.DriverError
		if errors.As(err, &de) {
			code := de.Code
			if code == 0 {
				code = 500
			}
			resp := failure(code, de.Class, de.Message)
			resp.Error.Backtrace = de.Backtrace
			return resp
		}
		return failure(500, "Error", err.Error())
	}
	b, err := json.Marshal(v)
	if err != nil {
		return failure(500, "EncodeError", err.Error())
	}
	return &proto.ExecResponse{ResultJson: b, Code: 200}
}
