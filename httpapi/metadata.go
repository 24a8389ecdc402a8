package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
)

// metadata is the part of a driver's metadata (PROTOCOL §4) the API needs, with declaration
// order kept: positional arguments bind in that order and the function listing shows it.
type metadata struct {
	order []string // function names in declaration order
	funcs map[string]*function
	// level is the security level that governs each listed function: the first level (in the
	// metadata's order) whose list names it.
	level map[string]string
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

// member is one key of a JSON object, kept in document order.
type member struct {
	key string
	val json.RawMessage
}

// orderedObject decodes a JSON object keeping its members in order; encoding/json maps do not.
func orderedObject(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, got %v", tok)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("member %q: %w", key, err)
		}
		out = append(out, member{key: key, val: val})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return out, nil
}

func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// parseMetadata reads the "interface" (schemas per parameter) and falls back to the legacy
// "functions" form (type names and defaults) for drivers that only publish that.
func parseMetadata(raw json.RawMessage) (*metadata, error) {
	var top struct {
		Interface json.RawMessage `json:"interface"`
		Functions json.RawMessage `json:"functions"`
		Security  json.RawMessage `json:"security"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	md := &metadata{funcs: map[string]*function{}, level: map[string]string{}}
	legacy := isAbsent(top.Interface)
	src := top.Interface
	if legacy {
		src = top.Functions
	}
	if !isAbsent(src) {
		fns, err := orderedObject(src)
		if err != nil {
			return nil, fmt.Errorf("interface: %w", err)
		}
		for _, fm := range fns {
			f, err := parseFunction(fm, legacy)
			if err != nil {
				return nil, err
			}
			if _, dup := md.funcs[f.name]; !dup {
				md.order = append(md.order, f.name)
			}
			md.funcs[f.name] = f
		}
	}
	if !isAbsent(top.Security) {
		levels, err := orderedObject(top.Security)
		if err != nil {
			return nil, fmt.Errorf("security: %w", err)
		}
		for _, lv := range levels {
			var names []string
			if err := json.Unmarshal(lv.val, &names); err != nil {
				return nil, fmt.Errorf("security %q: %w", lv.key, err)
			}
			for _, n := range names {
				if _, seen := md.level[n]; !seen {
					md.level[n] = lv.key
				}
			}
		}
	}
	return md, nil
}

func parseFunction(fm member, legacy bool) (*function, error) {
	f := &function{name: fm.key}
	if isAbsent(fm.val) {
		return f, nil
	}
	params, err := orderedObject(fm.val)
	if err != nil {
		return nil, fmt.Errorf("function %q: %w", fm.key, err)
	}
	for _, pm := range params {
		p := param{name: pm.key}
		if legacy {
			// ["type"] is required, ["type", default] is optional.
			var tuple []json.RawMessage
			if err := json.Unmarshal(pm.val, &tuple); err != nil {
				return nil, fmt.Errorf("function %q parameter %q: %w", fm.key, pm.key, err)
			}
			p.required = len(tuple) < 2
		} else {
			var schema struct {
				Type    json.RawMessage `json:"type"`
				Default json.RawMessage `json:"default"`
			}
			if err := json.Unmarshal(pm.val, &schema); err != nil {
				return nil, fmt.Errorf("function %q parameter %q: %w", fm.key, pm.key, err)
			}
			p.schema = pm.val
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

// allowed applies PROTOCOL §8: unlisted functions are open, "support" needs support, and
// "administrator" needs admin; any other level is closed to everyone, admins included.
func (md *metadata) allowed(fn string, c Clearance) bool {
	lv, listed := md.level[fn]
	if !listed {
		return true
	}
	switch lv {
	case "support":
		return c >= ClearanceSupport
	case "administrator":
		return c >= ClearanceAdmin
	}
	return false
}

// checkArgs rejects calls the driver would refuse anyway (PROTOCOL §5 argument binding, with
// the sdk's messages), so the caller gets a 400 naming the parameter without a round trip to the
// driver process. Only the JSON kind is checked; ranges, enums and nested shapes stay the
// driver's business, and a parameter without a schema type (legacy metadata, `any`) takes
// anything.
func (f *function) checkArgs(args json.RawMessage) error {
	if isAbsent(args) {
		return f.missingFrom(0, nil)
	}
	trimmed := bytes.TrimSpace(args)
	switch trimmed[0] {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return fail(ErrMalformedJSON, err, "arguments are not valid JSON: %v", err)
		}
		if len(list) > len(f.params) {
			return fail(ErrBadArguments, nil, "wrong number of arguments for '%s' (given %d, expected %d)",
				f.name, len(list), len(f.params))
		}
		for i, v := range list {
			if err := f.params[i].check(f.name, v); err != nil {
				return err
			}
		}
		return f.missingFrom(len(list), nil)
	case '{':
		named, err := orderedObject(trimmed)
		if err != nil {
			return fail(ErrMalformedJSON, err, "arguments are not valid JSON: %v", err)
		}
		byName := make(map[string]json.RawMessage, len(named))
		for _, m := range named {
			p, ok := f.param(m.key)
			if !ok {
				return fail(ErrBadArguments, nil, "unknown argument '%s' for '%s'", m.key, f.name)
			}
			if err := p.check(f.name, m.val); err != nil {
				return err
			}
			byName[m.key] = m.val
		}
		return f.missingFrom(0, byName)
	}
	return fail(ErrBadBody, nil, "arguments must be a JSON array or object")
}

// missingFrom reports the first required parameter from position i on that named lacks.
func (f *function) missingFrom(i int, named map[string]json.RawMessage) error {
	for _, p := range f.params[i:] {
		if _, ok := named[p.name]; ok || !p.required {
			continue
		}
		return fail(ErrBadArguments, nil, "missing argument '%s' for '%s'", p.name, f.name)
	}
	return nil
}

func (f *function) param(name string) (param, bool) {
	for _, p := range f.params {
		if p.name == name {
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
		if t != "boolean" && t != "integer" && t != "number" && t != "string" &&
			t != "array" && t != "object" && t != "null" {
			return nil // a type this check does not know: let the driver judge
		}
	}
	return fail(ErrBadArguments, nil, "argument '%s' for '%s' must be %s, got %s",
		p.name, fn, joinTypes(p.types), kind)
}

func joinTypes(ts []string) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += " or "
		}
		s += t
	}
	return s
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

// metaCache keeps parsed metadata per module. Core already caches the raw JSON, so a hit costs
// one byte comparison instead of an order-preserving parse on every execute.
type metaCache struct {
	mu      sync.Mutex
	entries map[string]metaEntry
}

type metaEntry struct {
	raw json.RawMessage
	md  *metadata
}

// metaCacheMax bounds the cache; modules removed from the model would otherwise stay forever.
const metaCacheMax = 4096

func (c *metaCache) get(moduleID string, raw json.RawMessage) (*metadata, error) {
	c.mu.Lock()
	e, ok := c.entries[moduleID]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.md, nil
	}
	md, err := parseMetadata(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= metaCacheMax {
		c.entries = make(map[string]metaEntry)
	}
	c.entries[moduleID] = metaEntry{raw: bytes.Clone(raw), md: md}
	return md, nil
}
