package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"

	"sigs.k8s.io/yaml"
)

// decodeFile decodes JSON strictly as JSON (one value, no unknown fields), anything else as YAML.
func decodeFile(data []byte, f *File) error {
	if !json.Valid(data) {
		return yaml.UnmarshalStrict(data, f)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(f)
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		// Go's text ("cannot unmarshal number into Go struct field Zone.zones.name of type
		// string") names Go types; a client wants the field as it wrote it and JSON's terms.
		return fmt.Errorf("field %q: want %s, not a JSON %s", te.Field, jsonKind(te.Type), te.Value)
	}
	return err
}

// jsonKind says in JSON's terms what a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return t.String()
}

// ParseFile reads a model file (YAML or JSON; YAML goes through the JSON field names). Unknown
// fields are an error, so a typo in a field name is caught rather than silently ignored.
//
// JSON is decoded as JSON: the YAML route turns a scalar into the string a field wants
// (`"name": 7` became "7", `true` "true"), which hides a client's type error that PlaceOS refuses.
func ParseFile(data []byte) (*File, error) {
	var f File
	if err := decodeFile(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := f.checkEntries(); err != nil {
		return nil, err
	}
	return &f, nil
}

// checkEntries refuses empty list entries (`drivers: [null]`), which decode as nil pointers, and
// an id given twice in one list: applying the file would keep only the last of them, silently
// dropping what the author wrote first. Every problem is reported at once.
func (f *File) checkEntries() error {
	lists := []struct {
		kind  string
		nulls int
		ids   []string
	}{
		{"repository", countNil(f.Repositories), entryIDs(f.Repositories, func(r *Repository) string { return r.ID })},
		{"driver", countNil(f.Drivers), entryIDs(f.Drivers, func(d *Driver) string { return d.ID })},
		{"module", countNil(f.Modules), entryIDs(f.Modules, func(m *Module) string { return m.ID })},
		{"system", countNil(f.Systems), entryIDs(f.Systems, func(s *System) string { return s.ID })},
		{"zone", countNil(f.Zones), entryIDs(f.Zones, func(z *Zone) string { return z.ID })},
	}
	var errs []error
	for _, l := range lists {
		if l.nulls > 0 {
			errs = append(errs, fmt.Errorf("%w: %s: %d empty (null) entries", ErrInvalid, l.kind, l.nulls))
		}
		seen := map[string]int{}
		for _, id := range l.ids {
			seen[id]++
			if seen[id] == 2 { // once per id, in the order of the file
				errs = append(errs, fmt.Errorf("%w: %s %q: id: given more than once in the file", ErrInvalid, l.kind, id))
			}
		}
	}
	return errors.Join(errs...)
}

func countNil[T any](list []*T) int {
	n := 0
	for _, e := range list {
		if e == nil {
			n++
		}
	}
	return n
}

// entryIDs lists the ids of the entries of list that are not nil.
func entryIDs[T any](list []*T, id func(*T) string) []string {
	out := make([]string, 0, len(list))
	for _, e := range list {
		if e != nil {
			out = append(out, id(e))
		}
	}
	return out
}

// LoadFile reads and parses the model file at path.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: read %s: %w", path, err)
	}
	f, err := ParseFile(data)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	return f, nil
}

// Upsert returns a copy of m with every entity of f created or replaced by id. It does not
// validate; call Validate on the result.
func (m *Model) Upsert(f *File) *Model {
	out := m.Clone()
	for _, r := range f.Repositories {
		out.Repositories[r.ID] = r
	}
	for _, d := range f.Drivers {
		out.Drivers[d.ID] = d
	}
	for _, mod := range f.Modules {
		out.Modules[mod.ID] = mod
	}
	for _, s := range f.Systems {
		out.Systems[s.ID] = s
	}
	for _, z := range f.Zones {
		out.Zones[z.ID] = z
	}
	return out
}
