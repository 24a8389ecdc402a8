package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
	"github.com/placeos-go/engine/plugin/metadata"
)

// checkArgsDecoding is checkArgs as it was before it read arguments in place: it decodes them
// (a slice of values, an ordered map of members). FuzzCheckArgs holds the two to the same
// answers.
func (f *function) checkArgsDecoding(args json.RawMessage) error {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return f.missingFrom(0)
	}
	switch trimmed[0] {
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return errkind.Wrap(ErrMalformedArgs, nil, "arguments: %v", jsonscan.Check(trimmed))
		}
		if len(list) > len(f.params) {
			return errkind.Wrap(ErrBadArguments, nil, "wrong number of arguments for '%s' (given %d, expected %d)",
				f.name, len(list), len(f.params))
		}
		for i, v := range list {
			if err := f.params[i].check(f.name, v); err != nil {
				return err
			}
		}
		return f.missingFrom(len(list))
	case '{':
		var named metadata.Ordered[json.RawMessage]
		if err := json.Unmarshal(trimmed, &named); err != nil {
			return errkind.Wrap(ErrMalformedArgs, nil, "arguments: %v", jsonscan.Check(trimmed))
		}
		for _, k := range named.Keys() {
			v, _ := named.Get(k)
			var p *param
			for i := range f.params {
				if f.params[i].name == k {
					p = &f.params[i]
				}
			}
			if p == nil {
				return errkind.Wrap(ErrBadArguments, nil, "unknown argument '%s' for '%s'", k, f.name)
			}
			if err := p.check(f.name, v); err != nil {
				return err
			}
		}
		for _, p := range f.params {
			if _, ok := named.Get(p.name); !ok && p.required {
				return errkind.Wrap(ErrBadArguments, nil, "missing argument '%s' for '%s'", p.name, f.name)
			}
		}
		return nil
	}
	return errkind.Wrap(ErrBadArguments, nil, "arguments must be a JSON array or object")
}

func checkFunctions(t testing.TB) *functions {
	t.Helper()
	fs, err := parseFunctions(json.RawMessage(displayMeta))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

var checkArgsSeeds = []string{
	``, `null`, ` [true] `, `[true, 1]`, `["on"]`, `{"state": true, "extra": 1}`, `{"state": tru}`, `"on"`,
	`[1.5]`, `[1e3]`, `[10]`, `{"level": 3, "ramp": true}`, `{"level": 3, "level": "x"}`, `{"level": "x", "level": 3}`,
	`{"ramp": true}`, `{"l\u0065vel": 2}`, `{"lev\"el": 2}`, `[null]`, `[2]`, `["hdmi", {"any": ["thing", "]"]}]`,
	`[ "a\"]" , [ [ ] ] ]`, `{}`, `[]`, `[1,]`, `{"level":}`, `[true] x`, "[\t1 ,\n false\r]", `{"level" : -0.5e-3}`,
	`[{"a":{"b":[1,{"c":"}"}]}}, "x"]`, `{"ramp": null, "level": null}`,
}

// TestCheckArgsAsDecoding: the in-place reading answers as decoding did, for every function of
// the display's metadata.
func TestCheckArgsAsDecoding(t *testing.T) {
	t.Parallel()
	fs := checkFunctions(t)
	for _, args := range checkArgsSeeds {
		for _, name := range fs.order {
			compareCheckArgs(t, fs.funcs[name], args)
		}
	}
}

func FuzzCheckArgs(f *testing.F) {
	for _, s := range checkArgsSeeds {
		f.Add(s)
	}
	fs := checkFunctions(f)
	f.Fuzz(func(t *testing.T, args string) {
		for _, name := range fs.order {
			compareCheckArgs(t, fs.funcs[name], args)
		}
	})
}

func compareCheckArgs(t *testing.T, fn *function, args string) {
	t.Helper()
	got, want := fn.checkArgs(json.RawMessage(args)), fn.checkArgsDecoding(json.RawMessage(args))
	if (got == nil) != (want == nil) || (got != nil && (got.Error() != want.Error() || !sameKind(got, want))) {
		t.Fatalf("%s(%s): %v, decoding says %v", fn.name, args, got, want)
	}
}

func sameKind(a, b error) bool {
	for _, k := range []error{errkind.BadRequest, errkind.Malformed} {
		if errors.Is(a, k) != errors.Is(b, k) {
			return false
		}
	}
	return true
}

// TestCheckArgsAllocates: reading arguments in place costs no allocation.
func TestCheckArgsAllocates(t *testing.T) {
	fs := checkFunctions(t)
	for _, c := range []struct{ fn, args string }{{"volume", `[5, true]`}, {"volume", `{"level": 5, "ramp": true}`}, {"input", `["hdmi", {"a": [1]}]`}} {
		fn, args := fs.funcs[c.fn], json.RawMessage(c.args)
		if n := testing.AllocsPerRun(100, func() { _ = fn.checkArgs(args) }); n != 0 {
			t.Errorf("%s(%s): %v allocations", c.fn, c.args, n)
		}
	}
}
