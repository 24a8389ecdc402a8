package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

var seeds = []string{
	`[]`, `{}`, `[1]`, `[ 1 , "a" , [ ] , { } ]`, `{"a":1,"b":[1,{"c":"}"}],"a":"x"}`, `["a\"]", "\\", "\u00e9"]`,
	`{"a\u0062":true, "é": null}`, "[\t-0.5e+3\n,true,false,null\r]", `{"":""}`, `[[[["deep"]]]]`, `{"k":"\ud800"}`,
	`[-9223372036854775808, 9223372036854775808, 01]`, `[1e2, 1.0, -0, "12"]`, `["<a>&", "\u2028", " "]`, `{"a b":[1, 2]}`,
}

// FuzzMembers: Members reads a valid array or object as encoding/json decodes it (the values,
// the names, in order), and String and Int read what they accept as encoding/json does.
func FuzzMembers(f *testing.F) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		data := bytes.TrimSpace([]byte(text))
		if !json.Valid(data) || (data[0] != '[' && data[0] != '{') {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, data); err != nil {
			t.Fatal(err)
		}
		if got, want := Compacted(data), bytes.Equal(compact.Bytes(), data); got != want {
			t.Fatalf("Compacted(%s) = %v, but json.Compact writes %s", data, got, compact.Bytes())
		}
		ms := Members(data, nil)
		var values []json.RawMessage
		if data[0] == '[' {
			if err := json.Unmarshal(data, &values); err != nil {
				t.Fatal(err)
			}
		} else {
			dec := json.NewDecoder(bytes.NewReader(data))
			_, _ = dec.Token()
			for dec.More() {
				k, _ := dec.Token()
				var v json.RawMessage
				if err := dec.Decode(&v); err != nil {
					t.Fatal(err)
				}
				if i := len(values); i >= len(ms) || ms[i].Name() != k.(string) || !ms[i].Is(k.(string)) {
					t.Fatalf("%s: member %d is not named %q", data, i, k)
				}
				values = append(values, v)
			}
		}
		if len(values) != len(ms) {
			t.Fatalf("%s: %d members, the decoder reads %d", data, len(ms), len(values))
		}
		for i, v := range values {
			if !bytes.Equal(ms[i].Value, bytes.TrimSpace(v)) {
				t.Fatalf("%s: value %d is %s, the decoder reads %s", data, i, ms[i].Value, v)
			}
			if s, ok := String(ms[i].Value); ok {
				var want string
				if err := json.Unmarshal(ms[i].Value, &want); err != nil || s != want {
					t.Fatalf("String(%s) = %q, the decoder reads %q (%v)", ms[i].Value, s, want, err)
				}
			}
			if n, ok := Int(ms[i].Value); ok {
				var want int64
				if err := json.Unmarshal(ms[i].Value, &want); err != nil || n != want {
					t.Fatalf("Int(%s) = %d, the decoder reads %d (%v)", ms[i].Value, n, want, err)
				}
			} else {
				var want int64
				if json.Unmarshal(ms[i].Value, &want) == nil && !bytes.Equal(ms[i].Value, []byte("null")) {
					t.Fatalf("Int(%s) refused what the decoder reads as %d", ms[i].Value, want)
				}
			}
			for j := range ms {
				if data[0] != '{' {
					break
				}
				if SameName(ms[i], ms[j]) != (ms[i].Name() == ms[j].Name()) {
					t.Fatalf("%s: SameName(%s, %s) wrong", data, ms[i].Key, ms[j].Key)
				}
			}
		}
	})
}

func TestTrimSpace(t *testing.T) {
	for in, want := range map[string]string{"": "", " ": "", " \t\n\r": "", " a ": "a", "\fa\v": "\fa\v", "\r\n[1, 2]\n": "[1, 2]"} {
		if got := string(TrimSpace([]byte(in))); got != want {
			t.Errorf("TrimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoAllocation: reading plain members, strings and integers allocates nothing beyond the
// strings returned.
func TestNoAllocation(t *testing.T) {
	data := []byte(`{"id": 12, "cmd": "exec", "args": [1, {"a": "b"}]}`)
	var stack [8]Member
	if n := testing.AllocsPerRun(100, func() {
		ms := Members(data, stack[:0])
		if _, ok := Int(ms[0].Value); !ok || !ms[1].Is("cmd") || len(ms) != 3 {
			t.Fatal("misread")
		}
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
