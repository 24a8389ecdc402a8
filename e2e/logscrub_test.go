package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestDriverLinesScrubbedWhateverModuleTheyName: one driver process serves mod-a and mod-b, each
// with an admin-level protected value. mod-b's driver logs its settings in a line that names
// mod-a, in one that names no module, and in a debug line it says is mod-a's (a driver sharing
// a connection between its modules logs so): the engine's log shows none of mod-b's value, and
// neither does the debug stream of mod-a that a support caller watches, since the module a line
// names is the driver's word, not a fact (docs/protocol.md §2.7).
func TestDriverLinesScrubbedWhateverModuleTheyName(t *testing.T) {
	t.Parallel()
	const aValue, bValue = "a-admin-value-4711", "b-admin-value-1337"
	e := keyedEngine(t, "logscrub", `
modules:
  - {id: mod-a, driver_id: drv-test, running: true, settings: {input: a-input}}
  - {id: mod-b, driver_id: drv-test, running: true, settings: {input: b-input}}
systems: [{id: sys-1, name: Room, modules: [mod-a, mod-b]}]
`)
	for id, v := range map[string]string{"mod-a": aValue, "mod-b": bValue} {
		input := strings.TrimPrefix(id, "mod-") + "-input"
		mod := fmt.Sprintf(`{"id": %q, "driver_id": "drv-test", "running": true, "settings": {"input": %q},
			"protected_settings": [{"level": "admin", "settings": {"password": %q}}]}`, id, input, v)
		if r := e.Do("PUT", "/api/engine/v2/modules/"+id, mod, enginetest.APIKey(adminKey)); r.Status != 200 {
			t.Fatalf("PUT %s: %d %s", id, r.Status, r.Body)
		}
		e.Eventually(30*time.Second, id+" runs with its protected value", func() bool {
			r := e.Do("POST", "/api/engine/v2/modules/"+id+"/exec/settings", "[]", enginetest.APIKey(adminKey))
			return r.Status == 200 && strings.Contains(r.Body, v)
		})
	}

	dbg := dialWS(t, e, supportKey)
	if code := dbg.request(1, `{"id": 1, "cmd": "debug", "sys": "sys-1", "mod": "Test", "index": 1, "name": "debug"}`); code != 200 {
		t.Fatalf("debug of mod-a as support: %d", code)
	}
	for _, as := range []string{`"mod-a"`, `""`} {
		if r := e.Do("POST", "/api/engine/v2/modules/mod-b/exec/leak", "["+as+"]", enginetest.APIKey(adminKey)); r.Status != 500 {
			t.Fatalf("leak as %s: %d %s", as, r.Status, r.Body)
		}
	}
	// Both hclog lines, one naming mod-a and one naming no module, reach the log.
	e.Eventually(20*time.Second, "both of mod-b's leaking lines in the log", func() bool {
		n := 0
		for _, line := range strings.Split(e.Logs().String(), "\n") {
			if strings.Contains(line, "leaking settings") && strings.Contains(line, "b-input") {
				n++
			}
		}
		return n >= 2
	})
	for _, line := range strings.Split(e.Logs().String(), "\n") {
		if strings.Contains(line, "leaking settings") && strings.Contains(line, "b-input") {
			if strings.Contains(line, bValue) || !strings.Contains(line, "[redacted]") {
				t.Errorf("the log shows mod-b's value in a line its driver wrote: %s", line)
			}
		}
	}
	for {
		if err := dbg.conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
		_, data, err := dbg.conn.ReadMessage()
		if err != nil {
			t.Fatalf("no debug line of mod-b's leak on mod-a's stream: %v", err)
		}
		var m struct{ Type, Msg string }
		if json.Unmarshal(data, &m) == nil && m.Type == "debug" && strings.Contains(m.Msg, "b-input") {
			if strings.Contains(m.Msg, bValue) || !strings.Contains(m.Msg, "[redacted]") {
				t.Errorf("mod-a's debug stream, watched by support, shows mod-b's admin value: %s", m.Msg)
			}
			break
		}
	}
	if strings.Contains(e.Logs().String(), aValue) || strings.Contains(e.Logs().String(), bValue) {
		t.Errorf("the engine logged a protected value")
	}
}

// TestStartFailureQuotingAnotherModule: mod-a and mod-b share a driver process (one connection
// to a gateway, say), and mod-a's start fails quoting mod-b's login, protected at admin level.
// mod-a has no protected values of its own, and its failure was scrubbed of its own only: any
// user read mod-b's password in mod-a's runtime_error and in the node status, and the log held
// it. A failed start is scrubbed of every value the node knows, as the driver's log lines are
// (docs/protocol.md §2.7).
func TestStartFailureQuotingAnotherModule(t *testing.T) {
	t.Parallel()
	const bValue = "b-gateway-login-8812"
	e := keyedEngine(t, "startscrub", `
modules:
  - {id: mod-b, driver_id: drv-test, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-b]}]
`)
	modB := fmt.Sprintf(`{"id": "mod-b", "driver_id": "drv-test", "running": true,
		"protected_settings": [{"level": "admin", "settings": {"password": %q}}]}`, bValue)
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-b", modB, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT mod-b: %d %s", r.Status, r.Body)
	}
	e.Eventually(30*time.Second, "mod-b runs with its protected value", func() bool {
		r := e.Do("POST", "/api/engine/v2/modules/mod-b/exec/settings", "[]", enginetest.APIKey(adminKey))
		return r.Status == 200 && strings.Contains(r.Body, bValue)
	})
	modA := `{"id": "mod-a", "driver_id": "drv-test", "running": true, "settings": {"refuse_start": true, "refuse_start_quoting": "mod-b"}}`
	if r := e.Do("POST", "/api/engine/v2/modules", modA, enginetest.APIKey(adminKey)); r.Status != 201 && r.Status != 200 {
		t.Fatalf("POST mod-a: %d %s", r.Status, r.Body)
	}
	var read string
	e.Eventually(30*time.Second, "mod-a's failed start in its read", func() bool {
		read = e.Do("GET", "/api/engine/v2/modules/mod-a", "", enginetest.APIKey(userKey)).Body
		return strings.Contains(read, "login with")
	})
	if strings.Contains(read, bValue) || !strings.Contains(read, "[redacted]") {
		t.Errorf("a user's read of mod-a: %s", read)
	}
	if st := e.Do("GET", "/api/core/v1/status", "", enginetest.APIKey(userKey)).Body; strings.Contains(st, bValue) || !strings.Contains(st, "login with") {
		t.Errorf("a user's node status: %s", st)
	}
	if strings.Contains(e.Logs().String(), bValue) {
		t.Errorf("the engine logged mod-b's value")
	}
}

// TestInnerValueOfAnObjectSettingScrubbed: a protected setting whose value is an object
// (credentials: {username, password}) was hidden only as its whole JSON text; a driver quoting the
// password alone — here in an execute's error, read by an admin, who gets the driver's words with
// the values hidden, and in its log — showed it. Every string inside counts as a value.
func TestInnerValueOfAnObjectSettingScrubbed(t *testing.T) {
	t.Parallel()
	const password = "inner-pass-5521"
	e := keyedEngine(t, "innerscrub", `
modules:
  - {id: mod-a, driver_id: drv-test, running: true}
systems: [{id: sys-1, name: Room, modules: [mod-a]}]
`)
	modA := fmt.Sprintf(`{"id": "mod-a", "driver_id": "drv-test", "running": true,
		"protected_settings": [{"level": "admin", "settings": {"credentials": {"username": "svc-room", "password": %q}}}]}`, password)
	if r := e.Do("PUT", "/api/engine/v2/modules/mod-a", modA, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT mod-a: %d %s", r.Status, r.Body)
	}
	e.Eventually(30*time.Second, "mod-a runs with its protected value", func() bool {
		r := e.Do("POST", "/api/engine/v2/modules/mod-a/exec/settings", "[]", enginetest.APIKey(adminKey))
		return r.Status == 200 && strings.Contains(r.Body, password)
	})
	r := e.Do("POST", "/api/engine/v2/modules/mod-a/exec/refuse", fmt.Sprintf(`[%q]`, password), enginetest.APIKey(adminKey))
	if r.Status != 400 || strings.Contains(r.Body, password) || !strings.Contains(r.Body, "[redacted]") {
		t.Fatalf("the driver's error quoting the password, as an admin reads it: %d %s", r.Status, r.Body)
	}
	if strings.Contains(e.Logs().String(), "refused") && strings.Contains(e.Logs().String(), `"`+password+`"`) {
		t.Errorf("the engine logged the password")
	}
}

// keyedEngine starts a single node with API keys (apiKeysFile) and a secrets key, running the test
// driver as drv-test with the modules and systems of the model text given.
func keyedEngine(t *testing.T, name, modulesAndSystems string) *enginetest.Node {
	t.Helper()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	return enginetest.StartEngine(t, config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--secrets-key-file", secretsKeyFile(t)), name,
		fmt.Sprintf("drivers: [{id: drv-test, module_name: Test, role: device, binary: %q}]\n", drv)+modulesAndSystems)
}
