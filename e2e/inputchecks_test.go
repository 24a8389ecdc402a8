package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/enginetest"
)

// TestSameInputChecksThreeWaysIn: a function name past 255 bytes and arguments that are not
// UTF-8 are refused alike whether a client sends them over REST or the WebSocket or a driver
// (Test_1, a real driver process) calls Test_2 with them, for every role, and nothing reaches
// Test_2's driver. A driver's calls used to skip the checks the front doors made: it could name
// a 300-byte function (a 404 quoting it) or hand another driver invalid UTF-8, which that driver
// acted on.
func TestSameInputChecksThreeWaysIn(t *testing.T) {
	t.Parallel()
	e := clearanceEngine(t, "inputchecks")
	long := strings.Repeat("f", 300)
	const tooLong = "the function name is 300 bytes long; an identifier may have at most 255 bytes"
	const notUTF8 = "arguments: invalid UTF-8 in string (JSON text must be UTF-8) at offset 9"
	badArgs := "[\"reached\xff\", true]" // set(name, value): the driver would set status "reached\uFFFD"
	for _, role := range []struct{ name, key string }{{"user", userKey}, {"support", supportKey}, {"admin", adminKey}} {
		t.Run(role.name, func(t *testing.T) {
			t.Parallel()
			key := enginetest.APIKey(role.key)
			ws := dialWS(t, e, role.key)

			rest := e.Do("POST", "/api/engine/v2/systems/sys-1/Test_2/"+long, "[]", key)
			wsCode := ws.exec(1, "Test", 2, long, "[]")
			d2d := e.Do("POST", "/api/engine/v2/systems/sys-1/Test_1/call", fmt.Sprintf(`["mod-b", %q, []]`, long), key)
			if rest.Status != http.StatusBadRequest || wsCode != http.StatusBadRequest || d2d.Status != http.StatusBadRequest {
				t.Errorf("a 300-byte function: REST %d, WebSocket %d, driver-to-driver %d; want 400 everywhere\nREST %s\ndriver-to-driver %s",
					rest.Status, wsCode, d2d.Status, rest.Body, d2d.Body)
			}
			for way, r := range map[string]enginetest.Response{"REST": rest, "driver-to-driver": d2d} {
				if !strings.Contains(r.Body, tooLong) || strings.Contains(r.Body, long) {
					t.Errorf("a 300-byte function, %s: %s; want %q, never the name", way, r.Body, tooLong)
				}
			}

			rest = e.Do("POST", "/api/engine/v2/systems/sys-1/Test_2/set", badArgs, key)
			want := `{"error":"parse_error","message":"` + notUTF8 + `","sys_id":"sys-1","module_name":"Test","index":2}`
			if rest.Status != http.StatusBadRequest || rest.Body != want {
				t.Errorf("REST arguments not UTF-8: %d %s\nwant 400 %s", rest.Status, rest.Body, want)
			}
			// The frame is refused as a whole, as any frame that is not UTF-8 (error_code 0).
			if code := ws.exec(2, "Test", 2, "set", badArgs); code != http.StatusBadRequest {
				t.Errorf("WebSocket arguments not UTF-8: code %d, want 400", code)
			}
			b64 := base64.StdEncoding.EncodeToString([]byte(badArgs))
			d2d = e.Do("POST", "/api/engine/v2/systems/sys-1/Test_1/call_b64", fmt.Sprintf(`["mod-b", "set", %q]`, b64), key)
			if d2d.Status != http.StatusBadRequest || !strings.Contains(d2d.Body, notUTF8) || !strings.Contains(d2d.Body, `"class":"BadRequest"`) {
				t.Errorf("driver-to-driver arguments not UTF-8: %d %s; want 400 BadRequest %q", d2d.Status, d2d.Body, notUTF8)
			}
		})
	}
	// Every call is answered before the test reads the state: had one reached Test_2's set, its
	// status would be there now.
	if r := e.Do("GET", "/api/engine/v2/modules/mod-b/state", "", enginetest.APIKey(adminKey)); r.Status != http.StatusOK || strings.Contains(r.Body, "reached") {
		t.Fatalf("Test_2's state: %d %s; a refused call reached its driver", r.Status, r.Body)
	}
}
