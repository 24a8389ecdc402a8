package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// bindFuzzDriver has one function per parameter shape the binder treats differently: required
// and defaulted scalars, bounds, enums, pointers (nullable), slices, maps, nested structs, any,
// json tags that rename or hide fields, and no parameters at all.
type bindFuzzDriver struct{ Base }

type bindFuzzNested struct {
	Name string  `json:"name"`
	Tags []int   `json:"tags"`
	Sub  *string `json:"sub,omitempty"`
}

func (*bindFuzzDriver) Scalars(struct {
	I   int     `json:"i"`
	U8  uint8   `json:"u8" default:"7"`
	F   float64 `json:"f" default:"1.5"`
	B   bool    `json:"b" default:"false"`
	S   string  `json:"s" default:"x"`
	I16 int16   `json:"i16" minimum:"-5" maximum:"5" default:"0"`
}) {
}

func (*bindFuzzDriver) Bounded(struct {
	Level int      `json:"level" minimum:"0" maximum:"100"`
	Mode  string   `json:"mode" enum:"fast,slow" default:"slow"`
	Gain  *float64 `json:"gain" minimum:"-1.5" maximum:"1.5"`
}) {
}

func (*bindFuzzDriver) Shapes(_ context.Context, a struct {
	List   []string          `json:"list"`
	Map    map[string]int    `json:"map"`
	Nested bindFuzzNested    `json:"nested"`
	Ptr    *bindFuzzNested   `json:"ptr"`
	Any    any               `json:"any"`
	Deep   map[string][]bool `json:"deep" default:"{}"`
}) error {
	return nil
}

func (*bindFuzzDriver) Renamed(struct {
	SnakeCase string `json:",omitempty" default:"z"`
	Hidden    int    `json:"-"`
	hidden    int
	Explicit  uint `json:"explicit" enum:"1,2,3" default:"2"`
}) {
}

func (*bindFuzzDriver) NoArgs() {}

// FuzzBind feeds arbitrary exec arguments to every function of a driver. Arguments come from any
// client over REST, the WebSocket or another driver, and docs/protocol.md §5 promises that none of them
// crashes the driver and every refusal is a bad-arguments error naming the function.
//
// Properties:
//   - bind never panics; a refusal wraps ErrBadArguments (sent as 400 BadRequest) and names the
//     function;
//   - a bound value satisfies every parameter's minimum, maximum and enum;
//   - binding is a fixed point: the bound values, sent back as named arguments, bind to the same
//     values (what a caller reads in a result it can send again);
//   - positional and named are the same call: an array that binds gives the same values as the
//     object naming those positions.
func FuzzBind(f *testing.F) {
	dt, err := describeType(reflect.TypeFor[*bindFuzzDriver](), buildOptions(nil))
	if err != nil {
		f.Fatal(err)
	}
	if len(dt.funcs) != 5 {
		f.Fatalf("fuzz driver exposes %d functions, want 5 (%v)", len(dt.funcs), dt.skipped)
	}
	for _, s := range []struct {
		fn   uint8
		args string
	}{
		{0, `[1]`}, {0, `{"i": 3, "u8": 255, "f": -0, "b": true, "s": "é", "i16": -5}`},
		{0, `[1, 256]`}, {0, `[1.5]`}, {0, `[null]`}, {0, `{"i": 1, "I": 2}`}, {0, `[1,2,3,4,5,6,7]`},
		{1, `[0]`}, {1, `[100, "fast", 1.5]`}, {1, `[101]`}, {1, `[5, "medium"]`}, {1, `[5, "slow", null]`},
		{1, `{"level": 1e2}`}, {1, `{"level": 1, "gain": -1.51}`},
		{2, `{}`}, {2, `[["a"], {"k": 1}, {"name": "n", "tags": [1], "sub": "s"}, null, {"x": [1]}, [], {"a": [true]}]`},
		{2, `{"nested": {"Name": "case", "extra": 1}, "any": "\ud800"}`}, {2, `{"deep": null}`},
		{3, `{"snake_case": "a", "explicit": 3}`}, {3, `{"hidden": 1}`}, {3, `{"explicit": 4}`},
		{4, ``}, {4, `null`}, {4, `[]`}, {4, `{}`}, {4, `[1]`}, {4, " \t[ ] "}, {4, `"x"`}, {4, `[`}, {4, "\x00"},
	} {
		f.Add(s.fn, []byte(s.args))
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		fn := dt.funcs[int(which)%len(dt.funcs)]
		args, err := fn.bind(raw)
		if err != nil {
			checkBindError(t, fn, raw, err)
			return
		}
		if fn.args == nil {
			return
		}
		for i := range fn.params {
			p := &fn.params[i]
			if err := p.check(args.FieldByIndex(p.index)); err != nil {
				t.Fatalf("%s(%s): bound %s violates its bounds: %v", fn.name, raw, p.name, err)
			}
		}

		named := map[string]json.RawMessage{}
		for _, p := range fn.params {
			v, err := json.Marshal(args.FieldByIndex(p.index).Interface())
			if err != nil {
				t.Fatalf("%s(%s): bound %s does not encode: %v", fn.name, raw, p.name, err)
			}
			named[p.name] = v
		}
		obj, _ := json.Marshal(named)
		again, err := fn.bind(obj)
		if err != nil {
			t.Fatalf("%s(%s) bound, but its own values %s do not: %v", fn.name, raw, obj, err)
		}
		if !reflect.DeepEqual(args.Interface(), again.Interface()) {
			t.Fatalf("%s: binding is not a fixed point:\nfrom %s: %#v\nfrom %s: %#v", fn.name, raw, args.Interface(), obj, again.Interface())
		}

		if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
			checkPositionalIsNamed(t, fn, trimmed, args)
		}
	})
}

func checkBindError(t *testing.T, fn *function, raw []byte, err error) {
	t.Helper()
	if !errors.Is(err, ErrBadArguments) {
		t.Fatalf("%s(%s): error %v does not wrap ErrBadArguments", fn.name, raw, err)
	}
	if !strings.Contains(err.Error(), "'"+fn.name+"'") {
		t.Fatalf("%s(%s): error %q does not name the function", fn.name, raw, err)
	}
}

// checkPositionalIsNamed rebinds an accepted array as the object naming its positions. raw is
// trimmed as bind trims it (bytes.TrimSpace, which also drops \v and \f that JSON does not).
func checkPositionalIsNamed(t *testing.T, fn *function, raw []byte, args reflect.Value) {
	t.Helper()
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		t.Fatalf("%s(%s) bound an array that does not decode: %v", fn.name, raw, err)
	}
	named := map[string]json.RawMessage{}
	for i, v := range list {
		named[fn.params[i].name] = v
	}
	obj, _ := json.Marshal(named)
	byName, err := fn.bind(obj)
	if err != nil {
		t.Fatalf("%s: %s binds but the same call by name %s does not: %v", fn.name, raw, obj, err)
	}
	if !reflect.DeepEqual(args.Interface(), byName.Interface()) {
		t.Fatalf("%s: positional %s and named %s bind differently", fn.name, raw, obj)
	}
}
