package sdk

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/plugin/metadata"
)

// settingsType is the driver's declared settings type (SettingsType) as the SDK reads it: its
// JSON Schema for the metadata, and the fields whose tags ask for a default or a check.
type settingsType struct {
	typ    reflect.Type
	schema *metadata.Schema
	fields []param
}

// describeSettings reads the tags of t's fields as on function parameters (default, minimum,
// maximum, enum, description) plus secret:"true", which marks the setting writeOnly in the
// schema. The fields of t itself and of structs embedded in it take them; the fields of nested
// structs report their description only.
func describeSettings(t reflect.Type) (*settingsType, error) {
	st := &settingsType{typ: t, schema: schemaOf(t)}
	if t.Kind() != reflect.Struct {
		return st, nil
	}
	var err error
	settingsFields(t, nil, func(name string, f reflect.StructField) {
		if err != nil {
			return
		}
		var p param
		if p, err = describeParam("setting", name, f); err != nil {
			return
		}
		if v, ok := f.Tag.Lookup("secret"); ok {
			if p.schema.WriteOnly, err = strconv.ParseBool(v); err != nil {
				err = fmt.Errorf("%w: setting %q: secret %q is not true or false", errBadDriver, name, v)
				return
			}
		}
		st.schema.Properties.Set(name, p.schema)
		if p.def != nil || p.min != nil || p.max != nil || len(p.enum) > 0 {
			st.fields = append(st.fields, p)
		}
	})
	return st, err
}

// settingsFields calls visit with each top-level setting of struct t, named as encoding/json
// names it (the order of the schema's properties), and its index from the outer struct.
// Embedded pointers are left out: a default could not be set through a nil one.
func settingsFields(t reflect.Type, index []int, visit func(name string, f reflect.StructField)) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, skip := jsonFieldName(f, f.Name)
		if skip {
			continue
		}
		f.Index = append(append([]int(nil), index...), i)
		if f.Anonymous && name == "" {
			if f.Type.Kind() == reflect.Struct {
				settingsFields(f.Type, f.Index, visit)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		visit(name, f)
	}
}

// reads reports whether v is where the declared settings are decoded (a pointer to the type).
func (st *settingsType) reads(v any) bool {
	return st != nil && reflect.TypeOf(v) == reflect.PointerTo(st.typ)
}

// read decodes the settings object raw into v: a setting that is absent (or null) takes its
// default, then every checked setting must be within its minimum, maximum and enum.
func (st *settingsType) read(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return settingsError("", err)
	}
	var given map[string]json.RawMessage
	_ = json.Unmarshal(raw, &given) // an object: it decoded into the struct
	rv := reflect.ValueOf(v).Elem()
	for i := range st.fields {
		p := &st.fields[i]
		field := rv.FieldByIndex(p.index)
		if p.def != nil && absent(given, p.name) {
			field.SetZero()
			_ = json.Unmarshal(p.def, field.Addr().Interface()) // decoded when described
		}
		if err := p.check(field); err != nil {
			return fmt.Errorf("%w: setting %q: %v", ErrBadSettings, p.name, err)
		}
	}
	return nil
}

// absent reports whether the settings object has no value for name. encoding/json matches keys
// without regard to case, so this does too.
func absent(obj map[string]json.RawMessage, name string) bool {
	for k, v := range obj {
		if strings.EqualFold(k, name) {
			return string(v) == "null"
		}
	}
	return true
}
