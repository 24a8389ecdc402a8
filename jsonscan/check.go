package jsonscan

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SyntaxError is JSON text that does not parse: the problem as encoding/json words it (or that
// the text is not UTF-8) and the 0-based byte offset in the text where it is.
type SyntaxError struct {
	Problem string
	Offset  int64
}

func (e *SyntaxError) Error() string {
	return e.Problem + " at offset " + strconv.FormatInt(e.Offset, 10)
}

// Check returns nil for valid JSON text, else a *SyntaxError. Valid is as encoding/json has it,
// which takes invalid UTF-8 inside strings: CheckText does not.
//
// encoding/json's own error needs two corrections to read as written: its offset counts the
// bytes read (one past the offending byte), and at the end of the text its scanner steps a
// space, so a cut-off literal reads as "invalid character ' ' in literal true" although the
// text has no space. Check names the offending byte's own offset, and the end as "unexpected
// end of JSON input" at the text's length.
func Check(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	// Trailing space cannot make text valid, and without it a step on ' ' at the last offset
	// can only be the scanner's end-of-input one.
	data = data[:trimEnd(data)]
	var probe json.RawMessage
	err := json.Unmarshal(data, &probe)
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return &SyntaxError{Problem: "unexpected end of JSON input", Offset: int64(len(data))}
	}
	msg := se.Error()
	if se.Offset >= int64(len(data)) && (msg == "unexpected end of JSON input" || strings.HasPrefix(msg, "invalid character ' '")) {
		return &SyntaxError{Problem: "unexpected end of JSON input", Offset: int64(len(data))}
	}
	return &SyntaxError{Problem: msg, Offset: max(se.Offset-1, 0)}
}

// CheckText is Check for the text a client sends (a request body, a WebSocket frame), which must
// be UTF-8 too, as RFC 8259 requires of JSON exchanged between systems. encoding/json accepts
// invalid bytes inside a string; they would travel on verbatim, into a driver's arguments and
// back out in its answers and statuses — in a WebSocket text frame, a browser fails the whole
// connection on them.
func CheckText(data []byte) error {
	if err := Check(data); err != nil {
		return err
	}
	if utf8.Valid(data) {
		return nil
	}
	return &SyntaxError{Problem: "invalid UTF-8 in string (JSON text must be UTF-8)", Offset: int64(invalidUTF8(data))}
}

// invalidUTF8 is the offset of the first byte of data that is not part of valid UTF-8.
func invalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}
