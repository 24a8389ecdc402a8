package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
)

// parseWSRequestDecoding is parseWSRequest as it was before it read frames in place: it decodes
// the frame into a map and each field with encoding/json. FuzzParseWSRequestAsDecoding holds the
// two to the same answers.
func parseWSRequestDecoding(data []byte) (*wsRequest, error) {
	if err := jsonscan.CheckText(data); err != nil {
		return nil, &wsParseError{code: errkind.CodeParseError, msg: "request: " + err.Error()}
	}
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
		if err := call.CheckIdentifier(f.key, *f.dst); err != nil {
			return nil, &wsParseError{id: req.ID, code: errkind.CodeBadRequest, msg: err.Error()}
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

// FuzzParseWSRequestAsDecoding: parseWSRequest answers as decoding the frame did, field by field,
// error by error (of several unknown fields, decoding named one at random).
func FuzzParseWSRequestAsDecoding(f *testing.F) {
	for _, s := range wsFuzzSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"id":1,"id":2,"cmd":"exec","cmd":"bind","sys":"a","mod":"b","name":"c","name":"d"}`,
		`{"i\u0064":3,"cmd":"\u0065xec","sys":"s\"","mod":"m","name":"n","args":[1],"args":null}`,
		`{"id":null,"cmd":null}`, `{"id":1,"cmd":"Exec","sys":null,"mod":"m","name":null,"index":null}`,
		`{"id":1,"cmd":"bind","sys":"s","mod":"m","name":"n","index":9223372036854775808}`,
		`{"id":1,"cmd":"bind","sys":"s","mod":"m","name":"n","index":-0}`, `{"id":1,"x":1,"y":2}`,
		`{"id":1,"cmd":"İgnore"}`, `{"id":1,"cmd":"ignore","mod":"m"}`, `{"id":1,"cmd":"debug","mod":"m","sys":"s"}`,
		`{"id":1,"cmd":"exec","sys":"s","mod":"m","name":"n","args":{ "a" : [ 1 ] } }`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, gerr := parseWSRequest(data)
		want, werr := parseWSRequestDecoding(data)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%s: %v, decoding says %v", data, gerr, werr)
		}
		if gerr != nil {
			g, w := gerr.(*wsParseError), werr.(*wsParseError)
			sameMsg := g.msg == w.msg || (strings.HasPrefix(g.msg, "unknown field") && strings.HasPrefix(w.msg, "unknown field"))
			if g.id != w.id || g.code != w.code || !sameMsg {
				t.Fatalf("%s: %+v, decoding says %+v", data, *g, *w)
			}
			return
		}
		if fmt.Sprint(got.ID, got.Cmd, got.Sys, got.Mod, got.Index, got.Name) != fmt.Sprint(want.ID, want.Cmd, want.Sys, want.Mod, want.Index, want.Name) ||
			!bytes.Equal(got.Args, want.Args) || (got.Args == nil) != (want.Args == nil) || !bytes.Equal(got.meta, want.meta) {
			t.Fatalf("%s:\n%+v (meta %s)\ndecoding says\n%+v (meta %s)", data, *got, got.meta, *want, want.meta)
		}
	})
}

// TestParseWSRequestAllocations: an exec frame costs the request, its strings and its meta.
func TestParseWSRequestAllocations(t *testing.T) {
	frame := []byte(`{"id":12,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"power","args":[true]}`)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := parseWSRequest(frame); err != nil {
			t.Fatal(err)
		}
	}); n > 5 {
		t.Errorf("parsing an exec frame allocates %.0f times, want at most 5 (the request, sys, mod, name, meta)", n)
	}
}

// TestAppendSuccess: an exec's success reply is marshalReply's, by hand or not, and its meta is
// the client's JSON byte for byte (json.Marshal would escape <, >, & and U+2028).
func TestAppendSuccess(t *testing.T) {
	for _, c := range []struct {
		meta, value string
		code        int
	}{
		{`{"sys":"sys-1","mod":"Display","index":1,"name":"power"}`, `true`, 200},
		{`{"sys":"a b","mod":"<m>","index":2,"name":"n"}`, `{"a": [1, 2]}`, 201},
		{`{"mod":"m","index":1}`, `"x\u2028&"`, 0},
		{`{"sys":"s&","mod":"m","index":1,"name":"<` + "\u2028" + `>"}`, `{"v": "&"}`, 200},
		{`{"sys":"s","mod":"m","index":1,"name":"n"}`, `[1,"a\"b",{"c":null}]`, 200},
		{``, `null`, 200},
	} {
		req := &wsRequest{ID: 42, meta: json.RawMessage(c.meta)}
		want, err := marshalReply(wsReply{ID: 42, Type: "success", Meta: req.meta, Value: json.RawMessage(c.value), Code: c.code})
		if err != nil {
			t.Fatal(err)
		}
		got := appendSuccess(nil, req, json.RawMessage(c.value), c.code)
		if !bytes.Equal(got, want) {
			t.Errorf("meta %s value %s: %s, marshalReply writes %s", c.meta, c.value, got, want)
		}
		if c.meta != "" && !bytes.Contains(got, []byte(`"meta":`+c.meta)) {
			t.Errorf("reply %s does not echo meta %s as sent", got, c.meta)
		}
	}
}
