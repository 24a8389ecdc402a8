package call

import (
	"encoding/json"
	"time"

	"github.com/placeos-go/engine/auth"
)

// Target names a module: by id, or by its place in a system (module name and 1-based index,
// as the slug Display_2 does). ModuleID wins when both are given.
type Target struct {
	ModuleID string
	SystemID string
	Name     string
	Index    int // 0 means 1
}

// Request is one call of a driver function.
type Request struct {
	Target   Target
	Function string
	// Args is a JSON array (positional) or object (named); empty means no arguments.
	Args   json.RawMessage
	Caller auth.Caller
	// RequestID follows the call into the driver's log lines and onto other nodes.
	RequestID string
	// Timeout shortens the engine's execute deadline for this call; zero or more than the
	// engine allows means the engine's.
	Timeout time.Duration
}

// Result is what the driver answered.
type Result struct {
	ModuleID string          // the module the target resolved to
	Value    json.RawMessage // the function's JSON result, "null" when it returned nothing
	Code     int             // HTTP-style, 200 unless the driver chose another 2xx-5xx code
}

// Function is one driver function as a caller may see it (the function listing), parameters in
// declaration order.
type Function struct {
	Name   string
	Params []Param
	// Security is the level the driver lists the function under ("support", "administrator"),
	// "" for none: a front-end shows it beside the function.
	Security string
}

// Param is one parameter of a Function.
type Param struct {
	Name string
	// Schema is the parameter's JSON schema as the driver published it; nil for drivers that
	// publish only the legacy "functions" form.
	Schema json.RawMessage
}

// ModuleRuntime is what a module read shows of the module's life beside its model entity, as
// PlaceOS's module fields of the same names (computed when read, never stored in the model).
type ModuleRuntime struct {
	// CoreNode is the id of the node that hosts the module.
	CoreNode string `json:"core_node"`
	// Connected is false only while the module runs and its `connected` status is false.
	Connected bool `json:"connected"`
	// HasRuntimeError: the module's start is failing on its node, since ErrorTimestamp (epoch
	// seconds; nil when there is no error).
	HasRuntimeError bool   `json:"has_runtime_error"`
	ErrorTimestamp  *int64 `json:"error_timestamp"`
	// DriverNotBuilt: the module is not started at all, because its driver has not built on its
	// node (no runtime error then: it never ran).
	DriverNotBuilt bool `json:"driver_not_built"`
	// RuntimeError is why, for either ("" when neither).
	RuntimeError string `json:"runtime_error"`
}
