package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/plugin/metadata"
)

// errBadDriver is returned when a driver type cannot be described (bad tags, bad defaults). Serve
// exits with it and sdktest fails the test, so no author code ever holds it.
var errBadDriver = errkind.New(errkind.Internal, "invalid driver declaration")

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
	baseType    = reflect.TypeFor[*Base]()
	supportType = reflect.TypeFor[Support]()
	adminType   = reflect.TypeFor[Administrator]()
)

// hookNames are methods the SDK calls itself; they are never exposed as functions.
var hookNames = map[string]bool{
	"OnLoad": true, "OnUpdate": true, "OnUnload": true,
	"Received": true, "Connected": true, "Disconnected": true,
}

// param is one field of a function's argument struct.
type param struct {
	name    string
	index   []int
	typ     reflect.Type
	schema  *metadata.Schema
	def     json.RawMessage // nil: required
	enum    []any           // decoded enum values, compared with the bound value
	min     *float64
	max     *float64
	noNulls bool // JSON null is an error (the type cannot hold it)
}

// function is one exposed method.
type function struct {
	name     string // wire name
	method   string // Go name
	index    int    // method index on the driver's pointer type
	hasCtx   bool
	args     reflect.Type // nil: no argument struct
	params   []param
	result   bool
	hasErr   bool
	security string
	file     string
	line     int
}

// driverType is everything derived from a driver's Go type.
type driverType struct {
	typ      reflect.Type  // pointer type
	settings *settingsType // nil: the driver declares none
	funcs    []*function
	byName   map[string]*function
	skipped  []string // why some exported methods are not exposed
	meta     *metadata.Metadata
}

// names are the wire names of the functions, in declaration order.
func (dt *driverType) names() []string {
	out := make([]string, len(dt.funcs))
	for i, fn := range dt.funcs {
		out[i] = fn.name
	}
	return out
}

func describeType(t reflect.Type, o *options) (*driverType, error) {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: driver type %s must be a pointer to a struct", errBadDriver, t)
	}
	dt := &driverType{typ: t, byName: map[string]*function{}}
	for i := range t.NumMethod() {
		m := t.Method(i)
		if hookNames[m.Name] {
			continue
		}
		if _, fromBase := baseType.MethodByName(m.Name); fromBase {
			continue
		}
		fn, why, err := describeMethod(m)
		if err != nil {
			return nil, err
		}
		if fn == nil {
			dt.skipped = append(dt.skipped, m.Name+": "+why)
			continue
		}
		fn.file, fn.line = declPos(t.Elem(), m.Name, 0)
		if prev, dup := dt.byName[fn.name]; dup {
			return nil, fmt.Errorf("%w: methods %s and %s share the wire name %q", errBadDriver, prev.method, fn.method, fn.name)
		}
		dt.byName[fn.name] = fn
		dt.funcs = append(dt.funcs, fn)
	}
	// Reflection lists methods alphabetically; source position gives declaration order.
	sort.SliceStable(dt.funcs, func(i, j int) bool {
		a, b := dt.funcs[i], dt.funcs[j]
		if (a.line == 0) != (b.line == 0) {
			return a.line != 0
		}
		if a.file != b.file {
			return a.file < b.file
		}
		return a.line < b.line
	})
	if o.settings != nil {
		var err error
		if dt.settings, err = describeSettings(o.settings); err != nil {
			return nil, err
		}
	}
	meta, err := buildMetadata(dt, o)
	if err != nil {
		return nil, err
	}
	dt.meta = meta
	return dt, nil
}

// describeMethod returns nil and a reason when m does not have an exposable signature.
func describeMethod(m reflect.Method) (*function, string, error) {
	mt := m.Type
	fn := &function{name: snakeCase(m.Name), method: m.Name, index: m.Index}
	in := 1 // skip the receiver
	if in < mt.NumIn() && mt.In(in) == contextType {
		fn.hasCtx = true
		in++
	}
	if in < mt.NumIn() && mt.In(in).Kind() == reflect.Struct {
		fn.args = mt.In(in)
		in++
	}
	if in != mt.NumIn() {
		return nil, "parameters must be [context.Context] [argument struct]", nil
	}
	switch mt.NumOut() {
	case 0:
	case 1:
		if mt.Out(0) == errorType {
			fn.hasErr = true
		} else {
			fn.result = true
		}
	case 2:
		if mt.Out(1) != errorType {
			return nil, "the second result must be error", nil
		}
		fn.result, fn.hasErr = true, true
	default:
		return nil, "results must be [value] [error]", nil
	}
	if fn.result {
		switch mt.Out(0).Kind() {
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return nil, "the result cannot be encoded as JSON", nil
		}
	}
	if fn.args != nil {
		if err := describeParams(fn); err != nil {
			return nil, "", err
		}
	}
	return fn, "", nil
}

func describeParams(fn *function) error {
	seen := map[string]bool{}
	for i := range fn.args.NumField() {
		f := fn.args.Field(i)
		switch {
		case f.Anonymous && f.Type == supportType:
			fn.security = metadata.LevelSupport
			continue
		case f.Anonymous && f.Type == adminType:
			fn.security = metadata.LevelAdministrator
			continue
		case f.Anonymous:
			return fmt.Errorf("%w: %s: embedded field %s in the argument struct is not supported", errBadDriver, fn.method, f.Name)
		case !f.IsExported():
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = snakeCase(f.Name)
		}
		if seen[name] {
			return fmt.Errorf("%w: %s: two parameters named %q", errBadDriver, fn.method, name)
		}
		seen[name] = true
		p, err := describeParam(fn.method+" parameter", name, f)
		if err != nil {
			return err
		}
		fn.params = append(fn.params, p)
	}
	return nil
}

// describeParam reads the tags of a field that is a parameter or a setting (what names which,
// for errors: `Volume parameter`, `setting`).
func describeParam(what, name string, f reflect.StructField) (param, error) {
	p := param{name: name, index: f.Index, typ: f.Type, schema: schemaOf(f.Type)}
	bad := func(format string, args ...any) (param, error) {
		return param{}, fmt.Errorf("%w: %s %q: %s", errBadDriver, what, name, fmt.Sprintf(format, args...))
	}
	switch f.Type.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
	default:
		p.noNulls = true
	}
	if d := f.Tag.Get("description"); d != "" {
		p.schema.Description = d
	}
	if v, ok := f.Tag.Lookup("minimum"); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad("minimum %q is not a number", v)
		}
		p.min, p.schema.Minimum = &n, &n
	}
	if v, ok := f.Tag.Lookup("maximum"); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad("maximum %q is not a number", v)
		}
		p.max, p.schema.Maximum = &n, &n
	}
	if v, ok := f.Tag.Lookup("enum"); ok {
		for _, item := range strings.Split(v, ",") {
			raw := literal(f.Type, strings.TrimSpace(item))
			val := reflect.New(f.Type)
			if err := json.Unmarshal(raw, val.Interface()); err != nil {
				return bad("enum value %s does not decode: %v", raw, err)
			}
			p.enum = append(p.enum, val.Elem().Interface())
			var plain any
			_ = json.Unmarshal(raw, &plain)
			p.schema.Enum = append(p.schema.Enum, plain)
		}
	}
	if v, ok := f.Tag.Lookup("default"); ok {
		raw := literal(f.Type, v)
		val := reflect.New(f.Type)
		if err := json.Unmarshal(raw, val.Interface()); err != nil {
			return bad("default %s does not decode: %v", raw, err)
		}
		if err := p.check(val.Elem()); err != nil {
			return bad("default: %v", err)
		}
		// Re-encode so the metadata carries canonical JSON.
		canon, err := json.Marshal(val.Elem().Interface())
		if err != nil {
			return bad("default: %v", err)
		}
		p.def, p.schema.Default = canon, canon
	}
	return p, nil
}

// literal lets a string field write default:"hdmi1" instead of default:"\"hdmi1\"".
func literal(t reflect.Type, v string) json.RawMessage {
	if t.Kind() == reflect.String && !strings.HasPrefix(v, `"`) {
		b, _ := json.Marshal(v)
		return b
	}
	return json.RawMessage(v)
}

// check validates a decoded value against the parameter's minimum, maximum and enum.
func (p *param) check(v reflect.Value) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var n float64
	numeric := true
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n = float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n = float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		n = v.Float()
	default:
		numeric = false
	}
	if numeric && p.min != nil && n < *p.min {
		return fmt.Errorf("%v is below the minimum %v", n, *p.min)
	}
	if numeric && p.max != nil && n > *p.max {
		return fmt.Errorf("%v is above the maximum %v", n, *p.max)
	}
	if len(p.enum) > 0 {
		for _, e := range p.enum {
			if reflect.DeepEqual(reflect.ValueOf(e).Interface(), v.Interface()) {
				return nil
			}
		}
		return fmt.Errorf("%v is not one of %v", v.Interface(), p.schema.Enum)
	}
	return nil
}

// declPos finds where method name is declared on struct type t (or on a type embedded in it).
// Wrappers the compiler generates for value receivers and promoted methods report
// "<autogenerated>", so those are resolved through the value type and the embedded fields.
func declPos(t reflect.Type, name string, depth int) (string, int) {
	if depth > 4 {
		return "", 0
	}
	for _, typ := range []reflect.Type{reflect.PointerTo(t), t} {
		if m, ok := typ.MethodByName(name); ok {
			if f := runtime.FuncForPC(m.Func.Pointer()); f != nil {
				if file, line := f.FileLine(f.Entry()); file != "<autogenerated>" && line > 0 {
					return file, line
				}
			}
		}
	}
	if t.Kind() != reflect.Struct {
		return "", 0
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.Anonymous {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if file, line := declPos(ft, name, depth+1); line > 0 {
			return file, line
		}
	}
	return "", 0
}
