package jsonscan

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// SyntaxError is JSON text that does not parse: the problem as encoding/json words it and the
// 0-based byte offset in the text where it is.
type SyntaxError struct {
	Problem string
	Offset  int64
}

func (e *SyntaxError) Error() string {
	return e.Problem + " at offset " + strconv.FormatInt(e.Offset, 10)
}

// Check returns nil for valid JSON text, else a *SyntaxError.
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
