package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseFile feeds arbitrary model files (YAML or JSON, as `engine apply`, --model and PUT
// /model receive them) through the whole load path. A model file comes from an operator or over
// the API, so nothing in it may crash a node: a panic while applying a file at start-up, or in a
// Raft apply, would take the node (or every node) down.
//
// Properties:
//   - ParseFile, Upsert, Validate and the derived views never panic;
//   - every rejection wraps ErrInvalid (the API maps it to 400, never 500);
//   - the canonical JSON form is a fixed point: what GET /model returns, applied again, gives
//     the same model (so `engine apply` of an exported model is a no-op);
//   - a model that validates has every reference resolved, and its derived views are usable.
func FuzzParseFile(f *testing.F) {
	for _, s := range []string{
		sample,
		``,
		`null`,
		`{}`,
		`{"modules": [`,
		`modules: [{id: m1, driverid: d}]`,
		`drivers: [{id: d1, module_name: X, role: device, binary: /x, settings: {a: [1, {b: null}]}}]`,
		`systems: [{id: s1, name: S, modules: [ghost, ghost], zones: [z1]}]`,
		`zones: [{id: "../etc", name: Z}]`,
		`modules: [{id: m1, driver_id: d1, port: 70000}]`,
		`repositories: [{id: r1, uri: "https://example.com/x.git", branch: main}]`,
		"drivers: [{id: d1, module_name: L, role: logic, binary: /x}]\nmodules: [{id: m1, driver_id: d1}]",
		`{"drivers": [{"id": "d", "module_name": "D", "role": "device", "repository_id": "r", "path": "p"}], "repositories": []}`,
		// An entry that is null (or an empty YAML item) must be refused, not dereferenced.
		`drivers: [null]`,
		"modules:\n  -\n",
		`{"systems": [null], "zones": [null]}`,
		// YAML features that a JSON-only loader never sees.
		"a: &x {id: z}\nzones: [*x, *x]",
		"zones: [{<<: {id: z1}, name: Z}]",
		`modules: [{id: m1, driver_id: d1, running: yes, settings: {"1": 0x10, n: .inf}}]`,
		// Protected settings: unknown and duplicate levels, values in clear, a sealed one.
		`zones: [{id: z1, name: Z, protected_settings: [{level: admin, settings: {p: 1}}, {level: admin}, {level: root, settings: null}]}]`,
		`zones: [{id: z1, name: Z, protected_settings: [{level: never_displayed, settings: {p: "sealed:v1:00ff00ff:AAAA"}}, null]}]`,
		`drivers: [{id: d1, module_name: X, role: device, binary: /x, protected_settings: {level: support}}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseFile error %v does not wrap ErrInvalid", err)
			}
			return
		}
		m := New().Upsert(file)
		verr := m.Validate()
		if verr != nil && !errors.Is(verr, ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", verr)
		}

		// The canonical form: one normalisation, then stable.
		canon := mustMarshal(t, m.File())
		again, err := ParseFile(canon)
		if err != nil {
			t.Fatalf("canonical form of an accepted file does not parse: %v\n%s", err, canon)
		}
		m2 := New().Upsert(again)
		if got := mustMarshal(t, m2.File()); !bytes.Equal(got, canon) {
			t.Fatalf("canonical form is not a fixed point:\nfirst  %s\nsecond %s", canon, got)
		}
		if verr2 := m2.Validate(); (verr == nil) != (verr2 == nil) {
			t.Fatalf("validation changed across the round trip: %v then %v", verr, verr2)
		}

		if verr != nil {
			return
		}
		checkValidModel(t, m)
	})
}

// checkValidModel asserts what every consumer of a validated model relies on.
func checkValidModel(t *testing.T, m *Model) {
	t.Helper()
	for id, mod := range m.Modules {
		if m.Drivers[mod.DriverID] == nil {
			t.Fatalf("valid model: module %q has no driver %q", id, mod.DriverID)
		}
		if m.ResolvedName(mod) == "" {
			t.Fatalf("valid model: module %q resolves to an empty name", id)
		}
		merged, err := m.MergedSettings(mod, nil)
		if err != nil {
			// Without a key only sealed protected values can stand in the way.
			if !errors.Is(err, ErrNoSecretsKey) {
				t.Fatalf("valid model: merging %q: %v", id, err)
			}
			continue
		}
		for k, v := range merged {
			if !json.Valid(v) {
				t.Fatalf("valid model: merged setting %q of %q is not JSON: %q", k, id, v)
			}
		}
	}
	for id, sys := range m.Systems {
		lookup := m.Lookup(sys)
		if len(lookup) != len(sys.Modules) {
			// Validate resolved every module id, and every module has a driver with a name.
			t.Fatalf("valid model: system %q maps %d of its %d modules", id, len(lookup), len(sys.Modules))
		}
	}
	// Deleting is refused exactly when something refers to the entity.
	for _, kind := range Kinds {
		for _, id := range ids(m, kind) {
			next, err := m.Without(kind, id)
			refs := m.References(kind, id)
			switch {
			case len(refs) > 0 && !errors.Is(err, ErrReferenced):
				t.Fatalf("delete %s %q with references %v: %v", kind, id, refs, err)
			case len(refs) == 0 && err != nil:
				t.Fatalf("delete unreferenced %s %q: %v", kind, id, err)
			case len(refs) == 0:
				if verr := next.Validate(); verr != nil {
					t.Fatalf("deleting unreferenced %s %q broke the model: %v", kind, id, verr)
				}
			}
		}
	}
}

func ids(m *Model, kind Kind) []string {
	var out []string
	add := func(id string) { out = append(out, id) }
	switch kind {
	case KindRepository:
		for id := range m.Repositories {
			add(id)
		}
	case KindDriver:
		for id := range m.Drivers {
			add(id)
		}
	case KindModule:
		for id := range m.Modules {
			add(id)
		}
	case KindSystem:
		for id := range m.Systems {
			add(id)
		}
	case KindZone:
		for id := range m.Zones {
			add(id)
		}
	}
	return out
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}
