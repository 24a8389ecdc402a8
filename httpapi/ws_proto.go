package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/placeos-go/engine/errkind"
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

// parseWSRequest is strict, as PlaceOS is: unknown keys, missing required fields and wrong types
// are errors. Unlike PlaceOS it answers them (error_code 0; 4 for an unknown command).
func parseWSRequest(data []byte) (*wsRequest, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "request is not a JSON object"}
	}
	req := &wsRequest{Index: 1}
	// The id first, so that every later error can name it.
	if raw, ok := fields["id"]; ok {
		if err := json.Unmarshal(raw, &req.ID); err != nil {
			return nil, &wsParseError{code: errkind.CodeParseError, msg: "id must be an integer"}
		}
	} else {
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "id is required"}
	}
	bad := func(format string, args ...any) error {
		return &wsParseError{id: req.ID, code: errkind.CodeParseError, msg: fmt.Sprintf(format, args...)}
	}
	for k := range fields {
		switch k {
		case "id", "cmd", "sys", "mod", "index", "name", "args":
		default:
			return nil, bad("unknown field %q", k)
		}
	}
	str := func(key string, dst *string) error {
		raw, ok := fields[key]
		if !ok {
			return bad("%s is required", key)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return bad("%s must be a string", key)
		}
		return nil
	}
	if err := str("cmd", &req.Cmd); err != nil {
		return nil, err
	}
	req.Cmd = strings.ToLower(req.Cmd)
	if !wsCommands[req.Cmd] {
		return nil, &wsParseError{id: req.ID, code: errkind.CodeUnknownCommand, msg: fmt.Sprintf("unknown command %q", req.Cmd)}
	}
	// debug and ignore address a module by id in mod; sys and name are only echoed in meta.
	moduleOnly := req.Cmd == "debug" || req.Cmd == "ignore"
	for _, f := range []struct {
		key string
		dst *string
	}{{"sys", &req.Sys}, {"mod", &req.Mod}, {"name", &req.Name}} {
		if _, ok := fields[f.key]; !ok && moduleOnly && f.key != "mod" {
			continue
		}
		if err := str(f.key, f.dst); err != nil {
			return nil, err
		}
	}
	if raw, ok := fields["index"]; ok && !isAbsent(raw) {
		if err := json.Unmarshal(raw, &req.Index); err != nil {
			return nil, bad("index must be an integer")
		}
		if req.Index < 1 {
			return nil, bad("index must be 1 or more")
		}
	}
	if raw, ok := fields["args"]; ok && !isAbsent(raw) {
		t := bytes.TrimSpace(raw)
		if t[0] != '[' && t[0] != '{' {
			return nil, bad("args must be an array (or an object of named arguments)")
		}
		req.Args = t
	}
	// meta echoes the client's own JSON for each field; an omitted index echoes the default,
	// because clients route notifications by mod and index.
	index := fields["index"]
	if isAbsent(index) {
		index = json.RawMessage("1")
	}
	// debug and ignore may leave sys and name out; they are left out of meta too.
	var m bytes.Buffer
	m.WriteByte('{')
	for _, f := range []struct {
		key string
		raw json.RawMessage
	}{{"sys", fields["sys"]}, {"mod", fields["mod"]}, {"index", index}, {"name", fields["name"]}} {
		v := bytes.TrimSpace(f.raw)
		if len(v) == 0 {
			continue
		}
		if m.Len() > 1 {
			m.WriteByte(',')
		}
		m.WriteString(`"` + f.key + `":`)
		m.Write(v)
	}
	m.WriteByte('}')
	req.meta = m.Bytes()
	return req, nil
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
