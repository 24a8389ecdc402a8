package metadata

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Ordered is a JSON object that keeps its keys in insertion order when encoded and in document
// order when decoded. Metadata needs it: callers bind positional arguments in the order the
// parameters appear in the JSON.
type Ordered[V any] struct {
	keys   []string
	values map[string]V
}

// Set adds or replaces key; a new key goes last.
func (o *Ordered[V]) Set(key string, v V) {
	if o.values == nil {
		o.values = make(map[string]V)
	}
	if _, ok := o.values[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.values[key] = v
}

// Get returns the value of key.
func (o *Ordered[V]) Get(key string) (V, bool) {
	v, ok := o.values[key]
	return v, ok
}

// Keys returns the keys in order.
func (o *Ordered[V]) Keys() []string { return append([]string(nil), o.keys...) }

// Len is the number of keys.
func (o *Ordered[V]) Len() int { return len(o.keys) }

// MarshalJSON writes the keys in order.
func (o Ordered[V]) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		vb, err := json.Marshal(o.values[k])
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads an object keeping document order.
func (o *Ordered[V]) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		*o = Ordered[V]{}
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("metadata: expected a JSON object, got %v", tok)
	}
	*o = Ordered[V]{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		var v V
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		o.Set(key, v)
	}
	_, err = dec.Token()
	return err
}
