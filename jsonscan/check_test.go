package jsonscan

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
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

// TestCheckText: RFC 8259 requires UTF-8, which encoding/json alone does not check inside strings.
func TestCheckText(t *testing.T) {
	t.Parallel()
	const bad = "invalid UTF-8 in string (JSON text must be UTF-8) at offset "
	for _, tc := range []struct{ text, want string }{
		{"[\"x\xffy\"]", bad + "3"},
		{"{\"a\xc3\":1}", bad + "3"},
		{"[\"\xed\xa0\x80\"]", bad + "2"}, // a surrogate
		{"[\"\xc0\xaf\"]", bad + "2"},     // overlong
		{"[\"é€😀\"]", ""},
		{`[1 x]`, "invalid character 'x' after array element at offset 3"},
		{"[\"\xff\" x]", "invalid character 'x' after array element at offset 5"}, // the syntax first
	} {
		got := ""
		if err := CheckText([]byte(tc.text)); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("CheckText(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
	if Check([]byte("[\"x\xffy\"]")) != nil {
		t.Error("Check refuses what encoding/json takes")
	}
}

// FuzzCheck: Check agrees with json.Valid, CheckText with json.Valid and utf8.Valid, and the offset it names is within the text (at its
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
		valid := json.Valid([]byte(text)) && utf8.ValidString(text)
		if terr := CheckText([]byte(text)); (terr == nil) != valid {
			t.Fatalf("CheckText(%q) = %v, json.Valid and utf8.Valid say %v", text, terr, valid)
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

// BenchmarkCheckText is CheckText on typical execute arguments, which every REST and WebSocket
// execute passes through: the UTF-8 scan is the part after json.Valid.
//
//	go test -run '^$' -bench '^BenchmarkCheckText$' -benchmem ./jsonscan/
func BenchmarkCheckText(b *testing.B) {
	args := []byte(`[true, "hdmi1", {"level": 42, "ramp": false}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(args)))
	for range b.N {
		if CheckText(args) != nil {
			b.Fatal("valid arguments refused")
		}
	}
}
