package metadata

import (
	"encoding/json"
	"fmt"
)

// Metadata is a driver's description of itself (docs/protocol.md §4). Functions and parameters
// keep declaration order in both directions of JSON, so a host can read "order" from it.
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

// Security level names: the keys of "security", each listing the functions restricted to it.
const (
	LevelSupport       = "support"
	LevelAdministrator = "administrator"
)

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
		return fmt.Errorf("metadata: signature must have 1 or 2 elements, got %d", len(parts))
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

// Schema is the subset of JSON Schema that drivers report for parameters ("interface") and
// settings ("json_schema"). Title is the Go spelling of the type (bool, int, []string, a
// struct's name), which PlaceOS shows in its function listings.
type Schema struct {
	Type                 any               `json:"type,omitempty"` // string, or [type, "null"] for pointers
	Title                string            `json:"title,omitempty"`
	Description          string            `json:"description,omitempty"`
	Format               string            `json:"format,omitempty"`
	Enum                 []any             `json:"enum,omitempty"`
	Minimum              *float64          `json:"minimum,omitempty"`
	Maximum              *float64          `json:"maximum,omitempty"`
	Default              json.RawMessage   `json:"default,omitempty"`
	WriteOnly            bool              `json:"writeOnly,omitempty"` // a secret setting: keep it in protected settings
	Items                *Schema           `json:"items,omitempty"`
	Properties           *Ordered[*Schema] `json:"properties,omitempty"`
	AdditionalProperties *Schema           `json:"additionalProperties,omitempty"`
}
