package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
)

// wsFuzzSeeds are requests a PlaceOS front-end sends, and the mistakes clients make.
var wsFuzzSeeds = []string{
	`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`,
	`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"volume","args":[10]}`,
	`{"id":3,"cmd":"exec","sys":"sys-1","mod":"Display","name":"volume","args":{"level":5,"ramp":true}}`,
	`{"id":4,"cmd":"unbind","sys":"sys-1","mod":"Display","index":1,"name":"power"}`,
	`{"id":5,"cmd":"debug","sys":"sys-1","mod":"mod-1","index":1,"name":"debug"}`,
	`{"id":6,"cmd":"ignore","sys":"sys-1","mod":"mod-1","index":1,"name":"ignore"}`,
	`{"id":7,"cmd":"EXEC","sys":"sys-1","mod":"Display","index":null,"name":"power","args":null}`,
	`{"id":8,"cmd":"exec","sys":"sys-1","mod":"Display","index":2,"name":"power","args":[true]}`,
	`{"id":9,"cmd":"exec","sys":"nope","mod":"Display","index":1,"name":"power","args":[]}`,
	`{"id":10,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"nope","args":[]}`,
	`{"id":11,"cmd":"exec","sys":"sys-1","mod":"Display","index":1,"name":"volume","args":["x",1,2]}`,
	`{"id":12,"cmd":"bind","sys":"sys-1","mod":"_Logic","index":1,"name":"x"}`,
	`{"id":13,"cmd":"frobnicate","sys":"s","mod":"m","name":"n"}`,
	`{"id":14,"cmd":"bind","sys":"s","mod":"m","index":0,"name":"n"}`,
	`{"id":15,"cmd":"bind","sys":"s","mod":"m","index":"1","name":"n"}`,
	`{"id":16,"cmd":"exec","sys":"s","mod":"m","name":"n","args":"x"}`,
	`{"id":17,"cmd":"bind","sys":"s","mod":"m","name":"n","extra":true}`,
	`{"id":18,"cmd":"bind","sys":1,"mod":"m","name":"n"}`,
	`{"id":19,"cmd":"bind","mod":"m","name":"n"}`,
	`{"id":20.5,"cmd":"bind"}`,
	`{"cmd":"bind","sys":"s","mod":"m","name":"n"}`,
	`{"id":21,"cmd":"bind","sys":"s\u0000\"","mod":"m\ud800","index":9223372036854775807,"name":""}`,
	`{"id":-9223372036854775808,"id":22,"cmd":"unbind","sys":"s","mod":"m","name":"n"}`,
	` {"id" : 23 , "cmd" : "unbind" , "sys" : "s" , "mod" : "m" , "index" : 1e0 , "name" : "n"} `,
	`{"id":24,"cmd":"eXeC","sys":"sys-1","mod":"Display","name":"&"}`,
	`{"id":25,"cmd":"bind","sys":"sys-1","mod":"Display","name":"<\u2028>"}`,
	`[]`, `null`, `1`, `"ping"`, `ping`, `pong`, ``, `{`, "\xff\xfe",
}

// FuzzParseWSRequest: the parser of every WebSocket frame (docs/protocol.md §7).
//
// Properties:
//   - never panics; a refusal is a *wsParseError with code parse_error or unknown_command, a
//     message, and the request's id whenever the id itself was readable;
//   - an accepted request has a known command, an index of 1 or more, args that are a JSON
//     array or object, and a meta that is a JSON object holding exactly sys, mod, index and name
//     as sent (equal to the parsed fields);
//   - the parsed request, written back as JSON, parses to the same request.
func FuzzParseWSRequest(f *testing.F) {
	for _, s := range wsFuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := parseWSRequest(data)
		if err != nil {
			checkWSParseError(t, data, err)
			return
		}
		if !wsCommands[req.Cmd] || req.Index < 1 {
			t.Fatalf("accepted %s as cmd %q index %d", data, req.Cmd, req.Index)
		}
		if req.Args != nil {
			var v any
			if json.Unmarshal(req.Args, &v) != nil {
				t.Fatalf("args %s are not JSON", req.Args)
			}
			switch v.(type) {
			case []any, map[string]any:
			default:
				t.Fatalf("args %s are neither an array nor an object", req.Args)
			}
		}
		checkWSMeta(t, req)

		again := wsRoundTrip(t, req)
		if again.ID != req.ID || again.Cmd != req.Cmd || again.Sys != req.Sys || again.Mod != req.Mod ||
			again.Index != req.Index || again.Name != req.Name || !jsonEqual(again.Args, req.Args) {
			t.Fatalf("round trip changed the request:\nfrom %s: %+v\nto %+v", data, *req, *again)
		}
	})
}

func checkWSParseError(t *testing.T, data []byte, err error) {
	t.Helper()
	var pe *wsParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *wsParseError", err)
	}
	if pe.code != errkind.CodeParseError && pe.code != errkind.CodeUnknownCommand {
		t.Fatalf("parse error code %v", pe.code)
	}
	if pe.msg == "" {
		t.Fatal("parse error without a message")
	}
	// The id, when it reads as an integer, is echoed so that the client can match the error.
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return
	}
	var id int64
	if raw, ok := fields["id"]; ok && json.Unmarshal(raw, &id) == nil && pe.id != id {
		t.Fatalf("error for %s carries id %d, want %d", data, pe.id, id)
	}
}

func checkWSMeta(t *testing.T, req *wsRequest) {
	t.Helper()
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(req.meta, &meta); err != nil {
		t.Fatalf("meta %s is not a JSON object: %v", req.meta, err)
	}
	// debug and ignore may leave sys and name out (mod carries the module id); meta then leaves
	// them out too. Every other command echoes all four.
	for _, key := range []string{"sys", "mod", "index", "name"} {
		_, ok := meta[key]
		optional := (req.Cmd == "debug" || req.Cmd == "ignore") && (key == "sys" || key == "name")
		if !ok && !optional {
			t.Fatalf("meta %s lacks %s", req.meta, key)
		}
	}
	if !jsonscan.Compacted(req.meta) {
		t.Fatalf("meta %s has space outside its strings", req.meta)
	}
	if len(meta) > 4 {
		t.Fatalf("meta %s holds more than sys, mod, index, name", req.meta)
	}
	var m struct {
		Sys   string `json:"sys"`
		Mod   string `json:"mod"`
		Index int    `json:"index"`
		Name  string `json:"name"`
	}
	if err := json.Unmarshal(req.meta, &m); err != nil {
		t.Fatalf("meta %s does not decode: %v", req.meta, err)
	}
	if m.Sys != req.Sys || m.Mod != req.Mod || m.Index != req.Index || m.Name != req.Name {
		t.Fatalf("meta %s does not echo the request %+v", req.meta, *req)
	}
}

func wsRoundTrip(t *testing.T, req *wsRequest) *wsRequest {
	t.Helper()
	out := map[string]any{"id": req.ID, "cmd": req.Cmd, "sys": req.Sys, "mod": req.Mod, "index": req.Index, "name": req.Name}
	if req.Args != nil {
		out["args"] = req.Args
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("request does not encode: %v", err)
	}
	again, err := parseWSRequest(b)
	if err != nil {
		t.Fatalf("re-encoded request %s does not parse: %v", b, err)
	}
	return again
}

func jsonEqual(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	// Equal as values, not as text: the encoder writes "&" as "\u0026", and numbers stay exact.
	decode := func(m json.RawMessage) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(m))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	x, okx := decode(a)
	y, oky := decode(b)
	return okx && oky && reflect.DeepEqual(x, y)
}

// FuzzWSSession sends each input as a frame to a served session (fake engine, no Redis) and
// holds the session to docs/protocol.md §7: every frame that is not "ping" gets exactly one success or
// error reply carrying the request's id, a frame that does not parse gets an error (never
// silence), every message is JSON, and the session survives to answer the next frame.
func FuzzWSSession(f *testing.F) {
	for _, s := range wsFuzzSeeds {
		f.Add([]byte(s))
	}
	eng := newFakeEngine()
	eng.debugFn = (&fakeDebugger{}).Debug
	srv := New(Config{
		Engine:         eng,
		Node:           eng,
		Auth:           fakeAuth{},
		Addr:           "127.0.0.1:0",
		Logger:         hclog.NewNullLogger(),
		WSPongInterval: time.Hour, // no heartbeat pongs to tell apart from answers
	})
	if err := srv.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			f.Error(err)
		}
	})
	url := "ws://" + srv.Addr().String() + ClientBase + "/systems/control"

	// One connection per fuzz worker, redialled if a frame ended it: a dial per input would
	// exhaust ephemeral ports in TIME_WAIT during a long fuzz run.
	var mu sync.Mutex
	var conn *websocket.Conn
	f.Cleanup(func() {
		if conn != nil {
			_ = conn.Close()
		}
	})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if int64(len(frame)) > WSMaxMessageBytes {
			return // refused by the read limit, which closes the session by design
		}
		mu.Lock()
		defer mu.Unlock()
		if conn == nil {
			c, resp, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			_ = resp.Body.Close()
			conn = c
		}
		if err := wsFuzzExchange(conn, frame); err != nil {
			_ = conn.Close()
			conn = nil
			t.Fatal(err)
		}
	})
}

// wsFuzzExchange sends frame and then "ping", and reads until it has both the answer and the pong.
func wsFuzzExchange(conn *websocket.Conn, frame []byte) error {
	send := func(b []byte) error { return conn.WriteMessage(websocket.TextMessage, b) }
	if err := send(frame); err != nil {
		return err
	}
	if string(frame) == "ping" {
		return expectPong(conn)
	}
	if err := send([]byte("ping")); err != nil {
		return err
	}
	req, perr := parseWSRequest(frame)
	wantID := int64(0)
	if perr != nil {
		wantID = perr.(*wsParseError).id
	} else {
		wantID = req.ID
	}
	var answers []wsReply
	pong := false
	// An exec answers from its own goroutine, so its reply may follow the pong.
	for !pong || len(answers) == 0 {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return errors.New("frame " + quote(frame) + ": session ended or went silent: " + err.Error())
		}
		if string(msg) == "pong" {
			if pong {
				return errors.New("two pongs for one ping")
			}
			pong = true
			continue
		}
		var r wsReply
		if err := json.Unmarshal(msg, &r); err != nil {
			return errors.New("reply is not JSON: " + quote(msg))
		}
		switch r.Type {
		case "success", "error":
			answers = append(answers, r)
		case "debug", "notify":
		default:
			return errors.New("reply of unknown type: " + quote(msg))
		}
	}
	if len(answers) != 1 {
		return errors.New("frame " + quote(frame) + " got more than one answer")
	}
	a := answers[0]
	switch {
	case a.ID != wantID:
		return errors.New("frame " + quote(frame) + ": answer carries the wrong id")
	case perr != nil && (a.Type != "error" || a.ErrorCode == nil || *a.ErrorCode != perr.(*wsParseError).code || a.Code != http.StatusBadRequest):
		return errors.New("frame " + quote(frame) + " does not parse but was not answered with its parse error")
	case a.Type == "error" && (a.ErrorCode == nil || a.Msg == "" || a.Code < 400):
		return errors.New("frame " + quote(frame) + ": error without error_code, msg or an HTTP-style code")
	case perr == nil && a.Type == "success" && (req.Cmd == "bind" || req.Cmd == "exec") && !bytes.Equal(a.Meta, req.meta):
		return errors.New("frame " + quote(frame) + ": success does not echo meta")
	case perr == nil && (req.Cmd == "unbind" || req.Cmd == "ignore") && a.Type != "success":
		return errors.New("frame " + quote(frame) + ": " + req.Cmd + " must always succeed")
	}
	return nil
}

func expectPong(conn *websocket.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil {
		return err
	}
	if string(msg) != "pong" {
		return errors.New("ping answered with " + quote(msg))
	}
	return nil
}

func quote(b []byte) string {
	q, _ := json.Marshal(string(b))
	return string(q)
}
