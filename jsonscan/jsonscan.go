package jsonscan

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Member is one top-level value of a JSON array or object. For an object, Key is the member's
// name as JSON text (quoted, escapes and all); for an array it is nil.
type Member struct{ Key, Value []byte }

// Members appends the top-level values of data, a valid JSON array or object without leading
// space, to out (a caller's stack array keeps small ones free of allocation).
func Members(data []byte, out []Member) []Member {
	i := skipSpace(data, 1)
	for i < len(data) && data[i] != ']' && data[i] != '}' {
		var m Member
		if data[0] == '{' {
			end := skipValue(data, i)
			m.Key = data[i:end]
			i = skipSpace(data, end)
			i = skipSpace(data, i+1) // the colon
		}
		end := skipValue(data, i)
		m.Value = data[i:end]
		out = append(out, m)
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return out
}

// Plain tells whether a member's name reads as is: no escapes, valid UTF-8 (the decoder turns
// invalid bytes into U+FFFD).
func (m Member) Plain() bool { return plain(m.Key) }

func plain(s []byte) bool { return bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) }

// Name is the member's name, decoded (by encoding/json only when it is not plain).
func (m Member) Name() string {
	if m.Plain() {
		return string(m.Key[1 : len(m.Key)-1])
	}
	var s string
	_ = json.Unmarshal(m.Key, &s) // valid JSON text: it decodes
	return s
}

// Is tells whether the member is named name, without allocating when its name is plain.
func (m Member) Is(name string) bool {
	if m.Plain() {
		return string(m.Key[1:len(m.Key)-1]) == name
	}
	return m.Name() == name
}

// SameName tells whether two members have the same name.
func SameName(a, b Member) bool {
	if bytes.Equal(a.Key, b.Key) {
		return true
	}
	if a.Plain() && b.Plain() {
		return false
	}
	return a.Name() == b.Name()
}

// First and Last are the indexes of the first and last members named as ms[i] is: a decoder
// into a map keeps a repeated name at its first place with its last value.
func First(ms []Member, i int) int {
	for j := range i {
		if SameName(ms[j], ms[i]) {
			return j
		}
	}
	return i
}

func Last(ms []Member, i int) int {
	for j := len(ms) - 1; j > i; j-- {
		if SameName(ms[j], ms[i]) {
			return j
		}
	}
	return i
}

// String reads a JSON string value that is plain (no escapes, valid UTF-8) as encoding/json
// would decode it; ok is false for any other value (decode that one with encoding/json).
func String(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' || !plain(v) {
		return "", false
	}
	return string(v[1 : len(v)-1]), true
}

// Int reads a JSON number that is a plain integer within int64 as encoding/json would decode it
// into an int64; ok is false for any other value.
func Int(v []byte) (n int64, ok bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	for _, c := range v[1:] {
		if c < '0' || c > '9' {
			return 0, false // a fraction or an exponent
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	return n, err == nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the end of the valid JSON value that starts at data[i].
func skipValue(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		c := data[i]
		switch c {
		case '"':
			i = skipString(data, i)
		case '[', '{':
			depth++
			i++
		case ']', '}':
			if depth == 0 {
				return i // the end of the array or object the value is in
			}
			depth--
			i++
		default:
			if depth == 0 && isDelim(c) {
				return i
			}
			i++
		}
		if depth == 0 && (c == '"' || c == ']' || c == '}') {
			return i
		}
	}
	return i
}

// skipString returns the end of the JSON string that starts at data[i] (past its closing quote).
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ':', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// Compacted tells whether the valid JSON text v has no space outside its strings, so that
// json.Compact and an encoder writing v as a json.RawMessage without HTML escaping leave it
// as it is: such text can be copied into an encoding by hand.
func Compacted(v []byte) bool {
	inString := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\t', '\n', '\r':
			if !inString {
				return false
			}
		case '\\':
			if inString {
				i++
			}
		case '"':
			inString = !inString
		}
	}
	return true
}

// TrimSpace is b without the whitespace JSON allows around a value (space, tab, newline,
// carriage return): bytes.TrimSpace also drops what JSON refuses (\f, \v, U+0085, ...).
func TrimSpace(b []byte) []byte {
	start := skipSpace(b, 0)
	if start == len(b) {
		return b[:0]
	}
	return b[start:trimEnd(b)]
}

func trimEnd(b []byte) int {
	i := len(b)
	for i > 0 {
		switch b[i-1] {
		case ' ', '\t', '\n', '\r':
			i--
		default:
			return i
		}
	}
	return i
}
