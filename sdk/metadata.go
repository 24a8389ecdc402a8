package sdk

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Metadata is a driver's description of itself (PROTOCOL §4). Functions and parameters keep
// declaration order in both directions of JSON, so a host can read "order" from it.
type Metadata struct {
	Interface    Ordered[Ordered[*Schema]]   `json:"interface"`
	Functions    Ordered[Ordered[Signature]] `json:"functions"`
	Implements   []string                    `json:"implements"`
	Requirements Ordered[[]string]           `json:"requirements"`
	Security     Ordered[[]string]           `json:"security"`
	JSONSchema   *Schema                     `json:"json_schema"`
	Notes        string                      `json:"notes,omitempty"`
	Versions     Versions                    `json:"versions"`
}

// Versions of the driver and of the SDK it was built with.
type Versions struct {
	Driver string `json:"driver"`
	SDK    string `json:"sdk"`
}

// Signature is one parameter in "functions": [title] or [title, default].
type Signature struct {
	Title   string
	Default json.RawMessage // nil: the parameter is required
}

// MarshalJSON writes [title] or [title, default].
func (s Signature) MarshalJSON() ([]byte, error) {
	if s.Default == nil {
		return json.Marshal([]any{s.Title})
	}
	return json.Marshal([]any{s.Title, s.Default})
}

// UnmarshalJSON reads [title] or [title, default].
func (s *Signature) UnmarshalJSON(b []byte) error {
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	if len(parts) == 0 || len(parts) > 2 {
		return fmt.Errorf("sdk: signature must have 1 or 2 elements, got %d", len(parts))
	}
	*s = Signature{}
	if err := json.Unmarshal(parts[0], &s.Title); err != nil {
		return err
	}
	if len(parts) == 2 {
		s.Default = parts[1]
	}
	return nil
}

func buildMetadata(dt *driverType, o *options) (*Metadata, error) {
	m := &Metadata{
		Implements:   []string{},
		Requirements: o.requires,
		Versions:     Versions{Driver: o.version, SDK: SDKVersion},
	}
	for _, fn := range dt.funcs {
		var iface Ordered[*Schema]
		var sig Ordered[Signature]
		for _, p := range fn.params {
			iface.Set(p.name, p.schema)
			sig.Set(p.name, Signature{Title: p.schema.Title, Default: p.def})
		}
		m.Interface.Set(fn.name, iface)
		m.Functions.Set(fn.name, sig)
		if fn.security != "" {
			prev, _ := m.Security.Get(fn.security)
			m.Security.Set(fn.security, append(prev, fn.name))
		}
	}
	for _, ni := range o.interfaces {
		if ni.typ.Kind() != reflect.Interface {
			return nil, fmt.Errorf("%w: DeclareInterface %q: %s is not an interface type", ErrBadDriver, ni.name, ni.typ)
		}
		if dt.typ.Implements(ni.typ) {
			m.Implements = append(m.Implements, ni.name)
		}
	}
	if o.settings != nil {
		m.JSONSchema = SchemaOf(o.settings)
	} else {
		m.JSONSchema = &Schema{Type: "object", Properties: &Ordered[*Schema]{}}
	}
	return m, nil
}

// Describe derives the metadata of the driver that factory makes, without serving it. Tests use
// it for golden files; `engine` tooling can use it to list a driver's functions.
func Describe[D Driver](factory func() D, opts ...Option) (*Metadata, error) {
	dt, err := describeType(reflect.TypeFor[D](), buildOptions(opts))
	if err != nil {
		return nil, err
	}
	return dt.meta, nil
}

// ParseMetadata decodes metadata JSON keeping function and parameter order.
func ParseMetadata(b []byte) (*Metadata, error) {
	var m Metadata
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("sdk: parse metadata: %w", err)
	}
	return &m, nil
}

func (m *Metadata) marshal() ([]byte, error) { return json.Marshal(m) }
