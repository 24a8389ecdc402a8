package jsonscan

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ text, want string }{
		{`[true]`, ""},
		{` {"a": [1, 2]} `, ""},
		// encoding/json says "invalid character ' ' in literal true": its scanner steps a space
		// at the end of the text.
		{`[tru`, "unexpected end of JSON input at offset 4"},
		{"[tru \n", "unexpected end of JSON input at offset 4"},
		{`[1,`, "unexpected end of JSON input at offset 3"},
		{`["abc`, "unexpected end of JSON input at offset 5"},
		{``, "unexpected end of JSON input at offset 0"},
		{`   `, "unexpected end of JSON input at offset 0"},
		{`[1 x]`, "invalid character 'x' after array element at offset 3"},
		{`[1}`, "invalid character '}' after array element at offset 2"},
		{`{"a":}`, "invalid character '}' looking for beginning of value at offset 5"},
		{`[tru e]`, "invalid character ' ' in literal true (expecting 'e') at offset 4"},
		{`[1]]`, "invalid character ']' after top-level value at offset 3"},
		{`  x`, "invalid character 'x' looking for beginning of value at offset 2"},
	} {
		err := Check([]byte(tc.text))
		got := ""
		if err != nil {
			got = err.Error()
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Errorf("Check(%q) = %T, want *SyntaxError", tc.text, err)
			}
		}
		if got != tc.want {
			t.Errorf("Check(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// FuzzCheck: Check agrees with json.Valid, and the offset it names is within the text (at its
// end only for text that ends too soon).
func FuzzCheck(f *testing.F) {
	for _, s := range append(seeds, `[tru`, `[1 x]`, `{"a":`, `"\u12`) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		err := Check([]byte(text))
		if (err == nil) != json.Valid([]byte(text)) {
			t.Fatalf("Check(%q) = %v, json.Valid says %v", text, err, json.Valid([]byte(text)))
		}
		var se *SyntaxError
		if err == nil || !errors.As(err, &se) {
			return
		}
		if se.Offset < 0 || se.Offset > int64(len(text)) ||
			(se.Offset == int64(len(text)) && se.Problem != "unexpected end of JSON input") {
			t.Fatalf("Check(%q) = %v: offset outside the text", text, err)
		}
	})
}
