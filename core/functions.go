package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
	"github.com/placeos-go/engine/plugin/metadata"
)

// functions is the part of a driver's metadata (docs/protocol.md §4) an execute needs, in
// declaration order: positional arguments bind in that order and the function listing shows it.
type functions struct {
	order []string // function names in declaration order
	funcs map[string]*function
	// level is the security level that governs each listed function: the first level (in the
	// metadata's order) whose list names it.
	level map[string]string
	// implements are the interfaces the driver reports (module_info.go).
	implements []string
}

type function struct {
	name   string
	params []param
}

type param struct {
	name     string
	schema   json.RawMessage // nil when only the legacy "functions" form was given
	types    []string        // JSON schema "type" values; empty means anything goes
	required bool
}

// parseFunctions reads the "interface" (a schema per parameter) and falls back to the legacy
// "functions" form (type names and defaults) for drivers that publish only that.
func parseFunctions(raw json.RawMessage) (*functions, error) {
	var top struct {
		Interface  metadata.Ordered[metadata.Ordered[json.RawMessage]] `json:"interface"`
		Functions  metadata.Ordered[metadata.Ordered[json.RawMessage]] `json:"functions"`
		Security   metadata.Ordered[[]string]                          `json:"security"`
		Implements []string                                            `json:"implements"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	fs := &functions{funcs: map[string]*function{}, level: map[string]string{}, implements: top.Implements}
	src, legacy := top.Interface, top.Interface.Len() == 0
	if legacy {
		src = top.Functions
	}
	for _, name := range src.Keys() {
		params, _ := src.Get(name)
		f, err := parseFunction(name, params, legacy)
		if err != nil {
			return nil, err
		}
		fs.order = append(fs.order, name)
		fs.funcs[name] = f
	}
	for _, lv := range top.Security.Keys() {
		names, _ := top.Security.Get(lv)
		for _, n := range names {
			if _, seen := fs.level[n]; !seen {
				fs.level[n] = lv
			}
		}
	}
	return fs, nil
}

func parseFunction(name string, params metadata.Ordered[json.RawMessage], legacy bool) (*function, error) {
	f := &function{name: name}
	for _, pn := range params.Keys() {
		val, _ := params.Get(pn)
		p := param{name: pn}
		if legacy {
			// ["type"] is required, ["type", default] is optional.
			var tuple []json.RawMessage
			if err := json.Unmarshal(val, &tuple); err != nil {
				return nil, fmt.Errorf("function %q parameter %q: %w", name, pn, err)
			}
			p.required = len(tuple) < 2
		} else {
			var schema struct {
				Type    json.RawMessage `json:"type"`
				Default json.RawMessage `json:"default"`
			}
			if err := json.Unmarshal(val, &schema); err != nil {
				return nil, fmt.Errorf("function %q parameter %q: %w", name, pn, err)
			}
			p.schema = val
			p.required = schema.Default == nil
			p.types = schemaTypes(schema.Type)
		}
		f.params = append(f.params, p)
	}
	return f, nil
}

// schemaTypes reads a schema "type", which is a name or a list of names.
func schemaTypes(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many) // anything else: no type constraint
	return many
}

// allowed is the clearance rule for one function (auth.Allowed with its level).
func (fs *functions) allowed(fn string, c auth.Clearance) bool {
	return auth.Allowed(fs.level[fn], c)
}

// visible lists the functions a caller of clearance c may call, in declaration order.
func (fs *functions) visible(c auth.Clearance) []call.Function {
	names := fs.names(c)
	out := make([]call.Function, 0, len(names))
	for _, name := range names {
		f := fs.funcs[name]
		cf := call.Function{Name: name, Params: make([]call.Param, len(f.params)), Security: fs.level[name]}
		for i, p := range f.params {
			cf.Params[i] = call.Param{Name: p.name, Schema: p.schema}
		}
		out = append(out, cf)
	}
	return out
}

// names are the functions a caller of clearance c may call, in declaration order: a hint never
// names one the function listing would hide from the caller.
func (fs *functions) names(c auth.Clearance) []string {
	out := make([]string, 0, len(fs.order))
	for _, name := range fs.order {
		if fs.allowed(name, c) {
			out = append(out, name)
		}
	}
	return out
}

// check finds fn and applies the caller's clearance and the argument rules to it.
func (fs *functions) check(fn string, c auth.Clearance, args json.RawMessage) error {
	f := fs.funcs[fn]
	if f == nil {
		return errkind.Wrap(ErrFunctionNotFound, nil, "could not find function %s%s", fn,
			metadata.UnknownFunctionHint(fn, fs.names(c)))
	}
	if !fs.allowed(fn, c) {
		return errkind.Wrap(ErrAccessDenied, nil, "attempted to access privileged function %s", fn)
	}
	return f.checkArgs(args)
}

// checkArgs rejects calls the driver would refuse anyway (the argument binding of
// docs/protocol.md §5, with the sdk's messages), so the caller gets a 400 naming the parameter
// without a round trip to the driver process. Only the JSON kind is checked; ranges, enums and
// nested shapes stay the driver's business, and a parameter without a schema type (legacy
// metadata, `any`) takes anything.
//
// It runs on every execute, so it reads the arguments in place (json.Valid, then a walk over the
// top-level values) instead of decoding them: no allocation for arguments of up to
// maxStackArgs values. Named arguments bind as a decoder into a map would: a key given twice
// counts once, at its first place, with its last value.
func (f *function) checkArgs(args json.RawMessage) error {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return f.missingFrom(0)
	}
	if trimmed[0] != '[' && trimmed[0] != '{' {
		return errkind.Wrap(ErrBadArguments, nil, "arguments must be a JSON array or object")
	}
	if err := jsonscan.Check(trimmed); err != nil {
		return errkind.Wrap(ErrMalformedArgs, nil, "arguments: %v", err)
	}
	var stack [maxStackArgs]jsonscan.Member
	values := jsonscan.Members(trimmed, stack[:0])
	if trimmed[0] == '[' {
		if len(values) > len(f.params) {
			return errkind.Wrap(ErrBadArguments, nil, "wrong number of arguments for '%s' (given %d, expected %d)",
				f.name, len(values), len(f.params))
		}
		for i, v := range values {
			if err := f.params[i].check(f.name, v.Value); err != nil {
				return err
			}
		}
		return f.missingFrom(len(values))
	}
	for i, v := range values {
		if jsonscan.First(values, i) < i {
			continue // a repeated key, checked at its first place
		}
		p, ok := f.paramOf(v)
		if !ok {
			return errkind.Wrap(ErrBadArguments, nil, "unknown argument '%s' for '%s'", v.Name(), f.name)
		}
		if err := p.check(f.name, values[jsonscan.Last(values, i)].Value); err != nil {
			return err
		}
	}
	return f.missingNamed(values)
}

// maxStackArgs is how many top-level argument values checkArgs reads without allocating.
const maxStackArgs = 16

// missingNamed reports the first required parameter the named values lack.
func (f *function) missingNamed(values []jsonscan.Member) error {
	for _, p := range f.params {
		if !p.required {
			continue
		}
		given := false
		for _, v := range values {
			if v.Is(p.name) {
				given = true
				break
			}
		}
		if !given {
			return errkind.Wrap(ErrBadArguments, nil, "missing argument '%s' for '%s'", p.name, f.name)
		}
	}
	return nil
}

// missingFrom reports the first required parameter from position i on.
func (f *function) missingFrom(i int) error {
	for _, p := range f.params[i:] {
		if !p.required {
			continue
		}
		return errkind.Wrap(ErrBadArguments, nil, "missing argument '%s' for '%s'", p.name, f.name)
	}
	return nil
}

// paramOf is the parameter a named argument gives.
func (f *function) paramOf(v jsonscan.Member) (param, bool) {
	for _, p := range f.params {
		if v.Is(p.name) {
			return p, true
		}
	}
	return param{}, false
}

func (p param) check(fn string, v json.RawMessage) error {
	if len(p.types) == 0 {
		return nil
	}
	kind := jsonKind(v)
	for _, t := range p.types {
		if t == kind || (t == "number" && kind == "integer") {
			return nil
		}
		switch t {
		case "boolean", "integer", "number", "string", "array", "object", "null":
		default:
			return nil // a type this check does not know: let the driver judge
		}
	}
	return errkind.Wrap(ErrBadArguments, nil, "argument '%s' for '%s' must be %s, got %s",
		p.name, fn, strings.Join(p.types, " or "), kind)
}

// jsonKind names a valid JSON value's schema type from its first byte, telling integers from
// other numbers the way Go decoding into an int does.
func jsonKind(v json.RawMessage) string {
	t := bytes.TrimSpace(v)
	switch t[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	if bytes.ContainsAny(t, ".eE") {
		return "number"
	}
	return "integer"
}

// functionCache keeps parsed metadata per module. The raw JSON is cached already (package state),
// so a hit costs one byte comparison instead of an order-preserving parse on every execute.
// Modules whose metadata is the same text (every module of a driver, notes aside) share one
// parse, and the raw text is held as given (state hands out shared, unmodified slices).
type functionCache struct {
	mu      sync.Mutex
	entries map[string]functionEntry
	parsed  map[string]*functions // by metadata text
}

type functionEntry struct {
	raw json.RawMessage
	fs  *functions
}

// functionCacheMax bounds the cache; modules removed from the model would otherwise stay forever.
// Above the modules a node hosts (10,000 and more): a smaller bound empties the cache over and
// over when calls reach more modules than it holds.
const functionCacheMax = 1 << 16

func (c *functionCache) get(moduleID string, raw json.RawMessage) (*functions, error) {
	c.mu.Lock()
	e, ok := c.entries[moduleID]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.fs, nil
	}
	c.mu.Lock()
	fs := c.parsed[string(raw)]
	c.mu.Unlock()
	if fs == nil {
		var err error
		if fs, err = parseFunctions(raw); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= functionCacheMax {
		c.entries = make(map[string]functionEntry)
		c.parsed = make(map[string]*functions)
	}
	if len(c.parsed) >= 64 {
		c.parsed = make(map[string]*functions) // the modules already cached keep theirs
	}
	c.parsed[string(raw)] = fs
	c.entries[moduleID] = functionEntry{raw: raw, fs: fs}
	return fs, nil
}
