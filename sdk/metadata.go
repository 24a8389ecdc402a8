package sdk

import (
	"fmt"
	"reflect"

	"github.com/placeos-go/engine/plugin/metadata"
)

// buildMetadata writes what describeType found as the document the host reads. Requirements and
// "implements" come from the options, since Go declarations cannot say which modules a logic
// driver needs or which driver-defined interfaces to report.
func buildMetadata(dt *driverType, o *options) (*metadata.Metadata, error) {
	m := &metadata.Metadata{
		Implements:   []string{},
		Requirements: o.requires,
		Versions:     metadata.Versions{Driver: o.version, SDK: SDKVersion},
	}
	for _, fn := range dt.funcs {
		var iface metadata.Ordered[*metadata.Schema]
		var sig metadata.Ordered[metadata.Signature]
		for _, p := range fn.params {
			iface.Set(p.name, p.schema)
			sig.Set(p.name, metadata.Signature{Title: p.schema.Title, Default: p.def})
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
			return nil, fmt.Errorf("%w: DeclareInterface %q: %s is not an interface type", errBadDriver, ni.name, ni.typ)
		}
		if dt.typ.Implements(ni.typ) {
			m.Implements = append(m.Implements, ni.name)
		}
	}
	if dt.settings != nil {
		m.JSONSchema = dt.settings.schema
	} else {
		m.JSONSchema = &metadata.Schema{Type: "object", Properties: &metadata.Ordered[*metadata.Schema]{}}
	}
	return m, nil
}
