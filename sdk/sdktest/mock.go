package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/placeos-go/engine/plugin/metadata"
	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
)

// Func answers a call to a mock module's function. args is the JSON array or object the caller
// sent. An error fails the call as it would fail a driver function: return an *sdk.Error
// (sdk.Errorf(409, ...), &sdk.Error{Status: 502, Kind: "DeviceError", Err: err}) to choose the
// code and class.
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

// functions are the names of the mock's functions, sorted.
func (m *Mock) functions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.funcs))
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
		return failure(400, "BadRequest", fmt.Sprintf("execute requested for unknown function: '%s' on %s%s",
			r.GetFunction(), m.Name, metadata.UnknownFunctionHint(r.GetFunction(), m.functions())))
	}
	v, err := f(ctx, r.GetArgsJson())
	if err != nil {
		return driverrt.ErrorResponse(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return failure(500, "EncodeError", err.Error())
	}
	return &proto.ExecResponse{ResultJson: b, Code: 200}
}
