package sdk

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/placeos-go/engine/plugin/metadata"
)

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	rawType      = reflect.TypeFor[json.RawMessage]()
)

// schemaOf derives the JSON Schema of a Go type as the SDK reports it in metadata.
func schemaOf(t reflect.Type) *metadata.Schema { return schemaIn(t, map[reflect.Type]bool{}) }

// schemaIn is schemaOf within the struct types being described (stack), where a recursive type
// stops.
func schemaIn(t reflect.Type, stack map[reflect.Type]bool) *metadata.Schema {
	s := &metadata.Schema{Title: typeTitle(t)}
	switch t {
	case timeType:
		s.Type, s.Format = "string", "date-time"
		return s
	case durationType:
		s.Type, s.Description = "integer", "nanoseconds"
		return s
	case rawType:
		return s // any JSON value
	}
	switch t.Kind() {
	case reflect.Bool:
		s.Type = "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		s.Type = "integer"
	case reflect.Float32, reflect.Float64:
		s.Type = "number"
	case reflect.String:
		s.Type = "string"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Kind() == reflect.Slice {
			s.Type, s.Format = "string", "byte" // encoding/json writes []byte as base64
			return s
		}
		s.Type = "array"
		s.Items = schemaIn(t.Elem(), stack)
	case reflect.Map:
		s.Type = "object"
		s.AdditionalProperties = schemaIn(t.Elem(), stack)
	case reflect.Struct:
		s.Type = "object"
		if stack[t] {
			return s // recursive type: stop here rather than loop
		}
		stack[t] = true
		defer delete(stack, t)
		props := &metadata.Ordered[*metadata.Schema]{}
		addStructProperties(t, props, stack)
		s.Properties = props
	case reflect.Pointer:
		inner := schemaIn(t.Elem(), stack)
		inner.Title = s.Title
		if typ, ok := inner.Type.(string); ok {
			inner.Type = []string{typ, "null"}
		}
		return inner
	case reflect.Interface:
		// any JSON value
	default:
		s.Type = "null" // chans and funcs cannot travel; exposeable signatures reject them
	}
	return s
}

// addStructProperties follows encoding/json's naming (tag name, else the Go field name), since
// nested values are decoded by encoding/json.
func addStructProperties(t reflect.Type, props *metadata.Ordered[*metadata.Schema], stack map[reflect.Type]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, skip := jsonFieldName(f, f.Name)
		if skip {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addStructProperties(ft, props, stack)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		ps := schemaIn(f.Type, stack)
		if d := f.Tag.Get("description"); d != "" {
			ps.Description = d
		}
		props.Set(name, ps)
	}
}

// jsonFieldName returns the tag name ("" when the tag gives none) and whether encoding/json skips
// the field. Embedded structs without a tag name are reported with name "".
func jsonFieldName(f reflect.StructField, _ string) (string, bool) {
	if !f.IsExported() && !f.Anonymous {
		return "", true
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", true
	}
	name, _, _ := strings.Cut(tag, ",")
	if f.Anonymous && name == "" {
		return "", false
	}
	if !f.IsExported() {
		return "", true
	}
	return name, false
}

// typeTitle is the Go spelling of t without package paths.
func typeTitle(t reflect.Type) string {
	if t.Name() != "" {
		if t.Kind() == reflect.Interface && t.NumMethod() == 0 {
			return "any"
		}
		return t.Name()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return "*" + typeTitle(t.Elem())
	case reflect.Slice:
		return "[]" + typeTitle(t.Elem())
	case reflect.Array:
		return fmt.Sprintf("[%d]%s", t.Len(), typeTitle(t.Elem()))
	case reflect.Map:
		return "map[" + typeTitle(t.Key()) + "]" + typeTitle(t.Elem())
	case reflect.Struct:
		return "struct"
	case reflect.Interface:
		return "any"
	}
	return t.String()
}
