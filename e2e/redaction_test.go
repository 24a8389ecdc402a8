package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// gatePIN is the admin-level protected value of TestDriverErrorsAreNoOracle.
const gatePIN = "482913"

// hiddenWords is what a caller who may not read every protected value of a module sees of its
// driver's words in an execute's error (docs/protocol.md §2.7).
const hiddenWords = "[redacted]: the driver's message is shown only to callers who may read every protected setting of the module"

// TestDriverErrorsAreNoOracle: a driver process that quotes its input beside its settings in an
// error (testdriver's refuse) gives a caller who may not read its admin-level PIN — user,
// support; over REST and the WebSocket; through the node that runs the module and through the
// one that forwards the call — the same answer for a right guess and a wrong one, the driver's
// words hidden whole, also when the call carries every 6-digit PIN (docs/protocol.md §2.7); an
// admin, who may read the PIN, gets the driver's words. A module without protected values keeps
// its driver's words for everyone.
func TestDriverErrorsAreNoOracle(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--secrets-key-file", enginetest.SecretsKeyFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, cfg, "oracle", 2, fmt.Sprintf(`
drivers:
  - {id: drv-gate, module_name: Gate, role: device, binary: %q}
  - {id: drv-plain, module_name: Plain, role: device, binary: %q}
modules:
  - {id: mod-gate, driver_id: drv-gate, running: true}
  - {id: mod-plain, driver_id: drv-plain, running: true, settings: {pin: %q}}
systems: [{id: sys-1, name: Room, modules: [mod-gate, mod-plain]}]
`, drv, drv, gatePIN), 2)
	n1 := c.Nodes[0]
	gate := fmt.Sprintf(`{"id": "mod-gate", "driver_id": "drv-gate", "running": true,
		"protected_settings": [{"level": "admin", "settings": {"pin": %q}}]}`, gatePIN)
	if r := n1.Do("PUT", "/api/engine/v2/modules/mod-gate", gate, enginetest.APIKey(adminKey)); r.Status != 200 {
		t.Fatalf("PUT the module as admin: %d %s", r.Status, r.Body)
	}
	n1.Eventually(30*time.Second, "the module runs with its PIN", func() bool {
		r := n1.Do("POST", "/api/engine/v2/modules/mod-gate/exec/settings", "[]", enginetest.APIKey(adminKey))
		return r.Status == 200 && strings.Contains(r.Body, gatePIN)
	})

	every := testutil.DeBruijnDigits(6)
	guesses := []struct{ name, right, wrong string }{
		{"echo", `["482913"]`, `["111111"]`},
		{"echo with a suffix", `["482913x"]`, `["111111x"]`},
		{"every PIN beside the input", `["9", "` + every + `"]`, `["9"]`},
	}
	for _, n := range c.Nodes {
		for _, role := range []struct{ name, key string }{{"user", userKey}, {"support", supportKey}, {"admin", adminKey}} {
			ws := dialWS(t, n, role.key)
			for i, g := range guesses {
				where := fmt.Sprintf("%s through %s as %s", g.name, n.ID, role.name)
				rest := func(args string) string {
					r := n.Do("POST", "/api/engine/v2/modules/mod-gate/exec/refuse", args, enginetest.APIKey(role.key))
					if r.Status != 400 {
						t.Fatalf("%s: %d %.300s", where, r.Status, r.Body)
					}
					return r.Body
				}
				right, wrong := rest(g.right), rest(g.wrong)
				wsRight, wsWrong := ws.errorMsg(10*i+1, "Gate", g.right), ws.errorMsg(10*i+2, "Gate", g.wrong)
				if role.key == adminKey {
					if !strings.Contains(right, "refused with settings") || !strings.Contains(wsWrong, "refused with settings") {
						t.Errorf("%s: REST %.300s, WebSocket %.300q; want the driver's words", where, right, wsWrong)
					}
					continue
				}
				if right != wrong || !strings.Contains(right, `"message":"`+hiddenWords+` (ArgumentError)"`) {
					t.Errorf("%s: REST answers a right guess %.300s, a wrong one %.300s; want both the driver's words hidden", where, right, wrong)
				}
				if wsRight != wsWrong || wsRight != hiddenWords+" (ArgumentError)" {
					t.Errorf("%s: the WebSocket answers a right guess %.300q, a wrong one %.300q; want both the driver's words hidden", where, wsRight, wsWrong)
				}
			}
			if msg := ws.errorMsg(99, "Plain", `["482913"]`); msg != `input "482913" refused with settings {"pin":"482913"} (ArgumentError)` {
				t.Errorf("through %s as %s: a module without protected values answers %q, want its driver's words", n.ID, role.name, msg)
			}
		}
	}
}

// errorMsg executes function refuse of mod (index 1) with args and returns the message of the
// error that answers it.
func (s *wsSession) errorMsg(id int, mod, args string) string {
	s.t.Helper()
	m := s.reply(id, fmt.Sprintf(`{"id": %d, "cmd": "exec", "sys": "sys-1", "mod": %q, "index": 1, "name": "refuse", "args": %s}`, id, mod, args))
	if m.Type != "error" {
		s.t.Fatalf("exec %s refuse %.100s: %+v, want an error", mod, args, m)
	}
	return m.Msg
}
