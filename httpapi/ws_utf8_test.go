package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/placeos-go/engine/call"
)

// TestWSFramesAreUTF8 (red team 9, finding 5): a status stored with invalid UTF-8 (Redis holds
// what a driver wrote) went out verbatim in a text frame, and a browser failed the connection —
// every binding of the session — on it. Every frame is valid UTF-8, each run of invalid bytes
// U+FFFD, the JSON intact: notifies (the current value and a change), exec results, and the
// session keeps working.
func TestWSFramesAreUTF8(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	env.hs.eng.execFn = func(_ context.Context, req call.Request) (call.Result, error) {
		// A driver's result as the engine passes it on: JSON, with a raw 0xfe inside a string.
		return call.Result{Value: json.RawMessage("{\"name\":\"caf\xe9 \xfe\xfe!\"}"), Code: 200}, nil
	}
	env.set(t, "mod-1", "label", "\"x\xffy\"")
	c := env.dial(t)
	frame := func() string {
		t.Helper()
		f := c.read()
		if !utf8.ValidString(f) || !json.Valid([]byte(f)) {
			t.Fatalf("frame is not UTF-8 JSON: %q", f)
		}
		return f
	}
	const meta = `{"sys":"sys-1","mod":"Display","index":1,"name":"label"}`
	c.send(`{"id":1,"cmd":"bind","sys":"sys-1","mod":"Display","name":"label"}`)
	if f := frame(); f != `{"id":1,"type":"success","meta":`+meta+`}` {
		t.Fatalf("bind: %s", f)
	}
	if f := frame(); f != `{"id":1,"type":"notify","meta":`+meta+`,"value":"x`+"\uFFFD"+`y"}` {
		t.Fatalf("current value: %q", f)
	}
	env.set(t, "mod-1", "label", "\"\xc3(\xed\xa0\x80\"") // a cut sequence, a surrogate
	if f := frame(); !strings.HasSuffix(f, `"value":"`+"\uFFFD(\uFFFD"+`"}`) {
		t.Fatalf("change: %q", f)
	}
	c.send(`{"id":2,"cmd":"exec","sys":"sys-1","mod":"Display","name":"describe","args":[]}`)
	if f := frame(); f != `{"id":2,"type":"success","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"describe"},"value":{"name":"caf`+"\uFFFD \uFFFD"+`!"},"code":200}` {
		t.Fatalf("exec result: %q", f)
	}
	// The session is whole: a valid change still arrives.
	env.set(t, "mod-1", "label", `"ok"`)
	if f := frame(); !strings.HasSuffix(f, `"value":"ok"}`) {
		t.Fatalf("after: %q", f)
	}
}

// TestInvalidUTF8Arguments: JSON text must be UTF-8 (RFC 8259); a WebSocket frame that is not
// is refused as malformed, a parse error, before the engine sees it. (A REST body is the
// arguments alone: the engine's execute refuses them, as it does a driver's — core/input.go,
// e2e TestSameInputChecksThreeWaysIn.)
func TestInvalidUTF8Arguments(t *testing.T) {
	t.Parallel()
	env := newWSEnv(t)
	c := env.dial(t)
	// Refused with the frame's id, which reads even where the rest does not.
	for id, frame := range []string{
		"{\"id\":0,\"cmd\":\"exec\",\"sys\":\"sys-1\",\"mod\":\"Display\",\"name\":\"power\",\"args\":[\"x\xffy\"]}",
		"{\"id\":1,\"cmd\":\"bind\",\"sys\":\"sys-1\",\"mod\":\"Display\",\"name\":\"p\xffwer\"}",
	} {
		c.send(frame)
		c.expect(fmt.Sprintf(`{"id":%d,"type":"error","code":400,"error_code":0,"msg":"request: invalid UTF-8 in string (JSON text must be UTF-8) at offset %d"}`,
			id, strings.IndexByte(frame, 0xff)))
	}
	c.quiet()
	if n := env.hs.eng.callCount(); n != 0 {
		t.Fatalf("the engine executed %d calls with invalid arguments", n)
	}
	if n := env.subs.Count(); n != 0 {
		t.Fatalf("watches = %d, want 0", n)
	}
}
