package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestAPIKeysReloadOnSIGHUP: an operator edits the --api-keys file and sends SIGHUP. The engine
// lives on; a removed key gets 401 on REST and its open WebSocket is closed with 4001, as is the
// session of a key whose role was lowered; a kept key's session carries on; a new key works at
// once. A broken file is refused as a whole, with an ERROR naming the file, and the keys in force
// stay. Real engine process, real driver, real file.
func TestAPIKeysReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	const (
		lowerKey = "lowered-key-0123456789abcdef"
		newKey   = "new-key-0123456789abcdef"
	)
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeys := func(yaml string) {
		t.Helper()
		testutil.WriteFile(t, keys, yaml)
	}
	writeKeys(fmt.Sprintf(`
- {key: %q, user_id: ursula, role: user}
- {key: %q, user_id: sam, role: support}
- {key: %q, user_id: ada, role: admin}
- {key: %q, user_id: lee, role: support}
`, userKey, supportKey, adminKey, lowerKey))
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", keys)
	cfg.APIKey = adminKey
	n := enginetest.StartEngine(t, cfg, "keysreload",
		fmt.Sprintf("drivers: [{id: drv-test, module_name: Test, role: service, binary: %q}]\n"+
			"modules: [{id: mod-01, driver_id: drv-test, running: true}]\n"+
			"systems: [{id: sys-1, name: Floor, modules: [mod-01]}]\n", drv))
	const exec = "/api/engine/v2/modules/mod-01/exec/echo"
	n.Eventually(30*time.Second, "the module answering", func() bool {
		return n.Do("POST", exec, `[1]`, enginetest.APIKey(adminKey)).Status == 200
	})
	wsExec := func(c *debugClient, id int, fn string) string {
		t.Helper()
		c.send(fmt.Sprintf(`{"id":%d,"cmd":"exec","sys":"sys-1","mod":"Test","index":1,"name":%q,"args":[]}`, id, fn))
		return c.next(fn)
	}
	removed := dialControl(t, n, supportKey)
	lowered := dialControl(t, n, lowerKey)
	kept := dialControl(t, n, userKey)
	// The lowered key's session may call what support may, before the reload.
	if f := wsExec(lowered, 1, "support_only"); !strings.Contains(f, `"type":"success"`) {
		t.Fatalf("support_only for lee before the reload: %s", f)
	}

	writeKeys(fmt.Sprintf(`
- {key: %q, user_id: ursula, role: user}
- {key: %q, user_id: ada, role: admin}
- {key: %q, user_id: lee, role: user}
- {key: %q, user_id: nina, role: support}
`, userKey, adminKey, lowerKey, newKey))
	n.Reload()
	n.WaitLog(10*time.Second, `API keys reloaded: node=`+n.ID+` file=`+keys+` keys=4`)
	for name, c := range map[string]*debugClient{"removed": removed, "lowered": lowered} {
		testutil.Eventually(t, 10*time.Second, "the "+name+" key's session closed", c.closed)
		var ce *websocket.CloseError
		if !errors.As(c.end, &ce) || ce.Code != 4001 || ce.Text != "credential revoked" {
			t.Fatalf("the %s key's session ended with %v, want close 4001 credential revoked", name, c.end)
		}
	}
	n.WaitLog(5*time.Second, "websocket session ended: its credential was revoked")
	if r := n.Do("POST", exec, `[1]`, enginetest.APIKey(supportKey)); r.Status != http.StatusUnauthorized {
		t.Fatalf("the removed key on REST: %d %s, want 401", r.Status, r.Body)
	}
	if f := wsExec(kept, 2, "echo"); !strings.Contains(f, `"type":"success"`) {
		t.Fatalf("the kept key's session after the reload: %s", f)
	}
	if r := n.Do("POST", "/api/engine/v2/modules/mod-01/exec/support_only", `[]`, enginetest.APIKey(newKey)); r.Status != 200 {
		t.Fatalf("the new key on REST: %d %s", r.Status, r.Body)
	}
	if f := wsExec(dialControl(t, n, newKey), 3, "support_only"); !strings.Contains(f, `"type":"success"`) {
		t.Fatalf("the new key's session: %s", f)
	}

	// A broken file: refused whole, the keys in force stay, the engine lives on.
	writeKeys(fmt.Sprintf("- {key: %q, user_id: nina, role: support}\n- {key: short, user_id: eve, role: admin}\n", newKey))
	n.Reload()
	n.WaitLog(10*time.Second, "reloading the API keys failed; keeping the ones in force: node="+n.ID+" file="+keys)
	n.WaitLog(time.Second, "entry 2: key must be at least 16 characters")
	if r := n.Do("POST", exec, `[1]`, enginetest.APIKey(userKey)); r.Status != 200 {
		t.Fatalf("a kept key after the broken file: %d %s", r.Status, r.Body)
	}
	kept.quiet()
	if !n.Running() {
		t.Fatal("the engine exited on SIGHUP")
	}
}

// TestAPIKeysRevokedAcrossNodes: each node reads its own keys file. A SIGHUP to node A after the
// key is removed ends the key's session on A — and the execute it had forwarded to node B stops
// with it — while B, not yet told, still takes the key; B's own SIGHUP refuses it there too.
func TestAPIKeysRevokedAcrossNodes(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	keys := apiKeysFile(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", keys)
	cfg.APIKey = adminKey
	c := enginetest.StartCluster(t, cfg, "keysrev", 2, clusterModel(drv), clusterModules)
	a, b := c.Nodes[0], c.Nodes[1]
	mod, index := moduleOn(t, c, b)
	admin := enginetest.APIKey(adminKey)

	ws := dialControl(t, a, supportKey)
	// slow sets its module's "busy" status, then sleeps for a minute unless its call is cancelled.
	ws.send(fmt.Sprintf(`{"id":1,"cmd":"exec","sys":"sys-1","mod":"Test","index":%d,"name":"slow","args":[60000]}`, index))
	b.Eventually(15*time.Second, "the forwarded execute running on "+b.ID, func() bool {
		r := a.Do("GET", fmt.Sprintf("/api/engine/v2/systems/sys-1/Test_%d/busy", index), "", admin)
		return r.Status == 200 && strings.TrimSpace(r.Body) == "true"
	})

	testutil.WriteFile(t, keys, fmt.Sprintf("- {key: %q, user_id: ursula}\n- {key: %q, user_id: ada, role: admin}\n", userKey, adminKey))
	a.Reload()
	a.WaitLog(10*time.Second, "API keys reloaded: node="+a.ID+" file="+keys+" keys=2")
	testutil.Eventually(t, 10*time.Second, "the session closed", ws.closed)
	var ce *websocket.CloseError
	if !errors.As(ws.end, &ce) || ce.Code != 4001 || ce.Text != "credential revoked" {
		t.Fatalf("the session ended with %v, want close 4001 credential revoked", ws.end)
	}
	b.Eventually(15*time.Second, "the forwarded execute ended on "+b.ID, func() bool { return execsDone(t, b, "slow") == 1 })

	exec := "/api/engine/v2/modules/" + mod + "/exec/echo"
	if r := a.Do("POST", exec, `[1]`, enginetest.APIKey(supportKey)); r.Status != http.StatusUnauthorized {
		t.Fatalf("the removed key on %s: %d %s, want 401", a.ID, r.Status, r.Body)
	}
	if r := b.Do("POST", exec, `[1]`, enginetest.APIKey(supportKey)); r.Status != 200 {
		t.Fatalf("the removed key on %s before its SIGHUP: %d %s, want 200 (its keys are its own)", b.ID, r.Status, r.Body)
	}
	b.Reload()
	b.WaitLog(10*time.Second, "API keys reloaded: node="+b.ID+" file="+keys+" keys=2")
	if r := b.Do("POST", exec, `[1]`, enginetest.APIKey(supportKey)); r.Status != http.StatusUnauthorized {
		t.Fatalf("the removed key on %s after its SIGHUP: %d %s, want 401", b.ID, r.Status, r.Body)
	}
}

// TestSIGHUPWithoutAPIKeys: under --auth none (and so without --api-keys or TLS) SIGHUP has
// nothing to reload; the engine says so and serves on (Go's default for SIGHUP is to exit).
func TestSIGHUPWithoutAPIKeys(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	n := enginetest.NewNode(t, config(redis.URL), "hup-none")
	n.Raft = "127.0.0.1:0"
	n.Start("--bootstrap")
	n.WaitReady()
	n.Reload()
	n.WaitLog(10*time.Second, "SIGHUP: --auth none reads no API keys; nothing to reload")
	n.WaitReady()
	if !n.Running() {
		t.Fatal("the engine exited on SIGHUP")
	}
}

// closed reports whether c's socket has ended, draining the frames before the end.
func (c *debugClient) closed() bool {
	for {
		select {
		case _, ok := <-c.frames:
			if !ok {
				return true
			}
		default:
			return false
		}
	}
}
