package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
)

// wsRequest is one parsed client request (docs/protocol.md §7).
type wsRequest struct {
	ID    int64
	Cmd   string
	Sys   string
	Mod   string
	Index int
	Name  string
	Args  json.RawMessage
	meta  json.RawMessage // {"sys","mod","index","name"} as the client sent them
}

// wsReply is every server message. Absent fields are omitted; Value keeps a JSON null.
type wsReply struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Meta      json.RawMessage `json:"meta,omitempty"`
	Value     json.RawMessage `json:"value,omitempty"`
	Code      int             `json:"code,omitempty"`
	ErrorCode *errkind.Code   `json:"error_code,omitempty"`
	Msg       string          `json:"msg,omitempty"`
	Mod       string          `json:"mod,omitempty"`
	Level     string          `json:"level,omitempty"`
}

// wsParseError is a request that cannot be served; id is the request's when it could be read.
type wsParseError struct {
	id   int64
	code errkind.Code
	msg  string
}

func (e *wsParseError) Error() string { return e.msg }

var wsCommands = map[string]bool{"bind": true, "unbind": true, "exec": true, "debug": true, "ignore": true}

// wsCommandNames are the commands, as parseWSRequest keeps them (no allocation per request).
var wsCommandNames = []string{"bind", "unbind", "exec", "debug", "ignore"}

// The fields of a request, in wsFieldNames' order.
const (
	wsID = iota
	wsCmd
	wsSys
	wsMod
	wsIndex
	wsName
	wsArgs
	wsNFields
)

var wsFieldNames = [wsNFields]string{"id", "cmd", "sys", "mod", "index", "name", "args"}

// parseWSRequest is strict, as PlaceOS is: unknown keys, missing required fields and wrong types
// are errors. Unlike PlaceOS it answers them (error_code 0; 4 for an unknown command).
//
// It reads the frame in place (package jsonscan) rather than decoding it into a map: every exec
// passes through here. The answers are those of decoding into map[string]json.RawMessage and each
// field with encoding/json (FuzzParseWSRequestAsDecoding): a key given twice counts with its last
// value, a null field is as good as its zero value (index: absent), and what jsonscan does not
// read plainly is decoded by encoding/json.
func parseWSRequest(data []byte) (*wsRequest, error) {
	t := jsonscan.TrimSpace(data)
	if err := jsonscan.Check(data); err != nil {
		// The arguments travel inside the frame: where the frame breaks is where they do.
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "request: " + err.Error()}
	}
	if len(t) == 0 || t[0] != '{' {
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "request is not a JSON object"}
	}
	var stack [wsNFields + 1]jsonscan.Member
	members := jsonscan.Members(t, stack[:0])
	var fields [wsNFields]json.RawMessage // nil: absent
	unknown := -1
	for i, m := range members {
		k := wsField(m)
		if k < 0 {
			if unknown < 0 {
				unknown = i
			}
			continue
		}
		fields[k] = m.Value // the last of a repeated key wins, as in a map
	}
	req := &wsRequest{Index: 1}
	// The id first, so that every later error can name it.
	if fields[wsID] == nil {
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "id is required"}
	}
	if !wsInt(fields[wsID], &req.ID) {
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "id must be an integer"}
	}
	if !utf8.Valid(data) {
		// JSON is UTF-8 (RFC 8259); a frame that is not is refused, with its id, which read.
		return nil, &wsParseError{id: req.ID, code: errkind.CodeParseError, msg: "request: " + jsonscan.CheckText(data).Error()}
	}
	bad := func(format string, args ...any) error { return wsBad(req.ID, format, args...) }
	if unknown >= 0 {
		return nil, bad("unknown field %q", members[unknown].Name())
	}
	if fields[wsCmd] == nil {
		return nil, bad("cmd is required")
	}
	if !wsCommand(fields[wsCmd], &req.Cmd) {
		return nil, bad("cmd must be a string")
	}
	if !wsCommands[req.Cmd] {
		return nil, &wsParseError{id: req.ID, code: errkind.CodeUnknownCommand, msg: fmt.Sprintf("unknown command %q", req.Cmd)}
	}
	// debug and ignore address a module by id in mod; sys and name are only echoed in meta.
	moduleOnly := req.Cmd == "debug" || req.Cmd == "ignore"
	for _, f := range [...]struct {
		k   int
		dst *string
	}{{wsSys, &req.Sys}, {wsMod, &req.Mod}, {wsName, &req.Name}} {
		if fields[f.k] == nil && moduleOnly && f.k != wsMod {
			continue
		}
		if fields[f.k] == nil {
			return nil, bad("%s is required", wsFieldNames[f.k])
		}
		if !wsString(fields[f.k], f.dst) {
			return nil, bad("%s must be a string", wsFieldNames[f.k])
		}
		// Before anything is looked up or subscribed to: each distinct name a session binds is
		// a Redis subscription.
		if err := call.CheckIdentifier(wsFieldNames[f.k], *f.dst); err != nil {
			return nil, &wsParseError{id: req.ID, code: errkind.CodeBadRequest, msg: err.Error()}
		}
	}
	if raw := fields[wsIndex]; !isAbsent(raw) {
		var n int64
		if !wsInt(raw, &n) || int64(int(n)) != n {
			return nil, bad("index must be an integer")
		}
		req.Index = int(n)
		if req.Index < 1 {
			return nil, bad("index must be 1 or more")
		}
	}
	if raw := fields[wsArgs]; !isAbsent(raw) {
		if raw[0] != '[' && raw[0] != '{' {
			return nil, bad("args must be an array (or an object of named arguments)")
		}
		req.Args = raw // a part of data, which the session reads afresh for every frame
	}
	req.meta = wsMeta(&fields)
	return req, nil
}

// wsMeta is a request's meta: the client's own JSON of sys, mod, index and name. An omitted index
// echoes the default, because clients route notifications by mod and index; debug and ignore may
// leave sys and name out, and they are left out of meta too.
func wsMeta(fields *[wsNFields]json.RawMessage) []byte {
	index := fields[wsIndex]
	if isAbsent(index) {
		index = json.RawMessage("1")
	}
	metaFields := [...]struct {
		key string
		raw json.RawMessage
	}{{`"sys":`, fields[wsSys]}, {`"mod":`, fields[wsMod]}, {`"index":`, index}, {`"name":`, fields[wsName]}}
	n := 2
	for _, f := range metaFields {
		n += len(f.key) + len(f.raw) + 1
	}
	m := make([]byte, 0, n)
	m = append(m, '{')
	for _, f := range metaFields {
		if len(f.raw) == 0 {
			continue
		}
		if len(m) > 1 {
			m = append(m, ',')
		}
		m = append(append(m, f.key...), f.raw...)
	}
	return append(m, '}')
}

// wsBad is a parse error of the request with id.
func wsBad(id int64, format string, args ...any) error {
	return &wsParseError{id: id, code: errkind.CodeParseError, msg: fmt.Sprintf(format, args...)}
}

// wsField is the field a member names, -1 for none.
func wsField(m jsonscan.Member) int {
	for k, name := range wsFieldNames {
		if m.Is(name) {
			return k
		}
	}
	return -1
}

// wsDecode decodes a field as encoding/json does into a T (null leaves dst alone): the plain forms
// in place (fast), the rest through the decoder.
func wsDecode[T any](raw json.RawMessage, dst *T, fast func([]byte) (T, bool)) bool {
	if v, ok := fast(raw); ok {
		*dst = v
		return true
	}
	v := *dst // the decoder's target escapes: only here, off the plain path
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	*dst = v
	return true
}

// wsInt decodes an integer field into an int64.
func wsInt(raw json.RawMessage, dst *int64) bool { return wsDecode(raw, dst, jsonscan.Int) }

// wsString decodes a string field.
func wsString(raw json.RawMessage, dst *string) bool { return wsDecode(raw, dst, jsonscan.String) }

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// wsCommand decodes cmd, lower-cased; a known command costs no allocation.
func wsCommand(raw json.RawMessage, dst *string) bool {
	if len(raw) > 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && ascii(raw) && bytes.IndexByte(raw, '\\') < 0 {
		for _, c := range wsCommandNames {
			if strings.EqualFold(string(raw[1:len(raw)-1]), c) { // ASCII: as strings.ToLower
				*dst = c
				return true
			}
		}
	}
	if !wsString(raw, dst) {
		return false
	}
	*dst = strings.ToLower(*dst)
	return true
}

func errorReply(id int64, code errkind.Code, status int, msg string) wsReply {
	c := code
	return wsReply{ID: id, Type: "error", ErrorCode: &c, Code: status, Msg: msg}
}

// isAbsent is a field left out or given as null.
func isAbsent(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}
