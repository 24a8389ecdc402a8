package model

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// ParseFile reads a model file (YAML or JSON; YAML goes through the JSON field names). Unknown
// fields are an error, so a typo in a field name is caught rather than silently ignored.
func ParseFile(data []byte) (*File, error) {
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := f.checkEntries(); err != nil {
		return nil, err
	}
	return &f, nil
}

// checkEntries refuses empty list entries (`drivers: [null]`), which decode as nil pointers.
func (f *File) checkEntries() error {
	lists := []struct {
		kind  Kind
		nulls int
	}{
		{KindRepository, countNil(f.Repositories)}, {KindDriver, countNil(f.Drivers)},
		{KindModule, countNil(f.Modules)}, {KindSystem, countNil(f.Systems)}, {KindZone, countNil(f.Zones)},
	}
	for _, l := range lists {
		if l.nulls > 0 {
			return fmt.Errorf("%w: %s: %d empty (null) entries", ErrInvalid, l.kind, l.nulls)
		}
	}
	return nil
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
