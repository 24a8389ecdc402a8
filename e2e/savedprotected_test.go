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

// TestSavedProtectedSettingStaysProtected: the red team's finding — a driver refreshing a token
// the admin gave it as a protected setting (testdriver's save) published the new one to every
// role and went on receiving the old one. Saved through a WebSocket by a user on the node that
// does not run the module (the execute forwarded, the save on the follower that runs it
// forwarded to the leader), then over REST by an admin: the driver receives each new value
// without a restart, no read by a user or support — module, settings, model, on either node —
// shows it, an admin reads it only as the admin-level value it is, and neither node's data
// directory nor log holds it in clear.
func TestSavedProtectedSettingStaysProtected(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--secrets-key-file", enginetest.SecretsKeyFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.NewCluster(t, cfg, "savedprot", 2)
	c.Nodes[1].Flags = []string{"--labels", "side=b"} // mod-tok runs on the node that joins
	c.Start(fmt.Sprintf(`
drivers: [{id: drv-tok, module_name: Tok, role: device, binary: %q}]
modules:
  - {id: mod-tok, driver_id: drv-tok, running: true, placement: {side: b}, settings: {input: hdmi1},
     protected_settings: [{level: admin, settings: {token: "OrigSecret77"}}]}
systems: [{id: sys-1, name: Room, modules: [mod-tok]}]
`, drv), 1)
	n1, n2 := c.Nodes[0], c.Nodes[1]
	if leader := c.Leader(); leader != n1 {
		t.Logf("the leader is %s: the save is not forwarded", leader.ID)
	}
	admin := enginetest.APIKey(adminKey)
	exec := func(n *enginetest.Node, fn, args string) string {
		t.Helper()
		r := n.Do("POST", "/api/engine/v2/modules/mod-tok/exec/"+fn, args, admin)
		if r.Status != 200 {
			t.Fatalf("%s on %s: %d %s", fn, n.ID, r.Status, r.Body)
		}
		return r.Body
	}
	receives := func(token string) {
		t.Helper()
		n1.Eventually(30*time.Second, "the driver receives "+token, func() bool {
			var s struct{ Token string }
			return json.Unmarshal([]byte(exec(n1, "settings", "[]")), &s) == nil && s.Token == token
		})
	}
	receives("OrigSecret77")
	starts := func() int { // a restart would start it again; an update logs no start
		n := 0
		for _, line := range strings.Split(n2.Logs().String(), "\n") {
			if strings.Contains(line, "module started") && strings.Contains(line, "module=mod-tok") {
				n++
			}
		}
		return n
	}

	for i, save := range []struct{ token, how string }{
		{"RotatedSecret42", "a user's WebSocket execute on " + n1.ID},
		{"RotatedAgain1701", "an admin's REST execute on " + n2.ID},
	} {
		args := fmt.Sprintf(`["token", %q]`, save.token)
		if i == 0 {
			if code := dialWS(t, n1, userKey).exec(1, "Tok", 1, "save", args); code != 200 {
				t.Fatalf("save through %s: %d", save.how, code)
			}
		} else {
			exec(n2, "save", args)
		}
		for _, n := range c.Nodes {
			n.Eventually(10*time.Second, "the save applied on "+n.ID, func() bool {
				return strings.Contains(n.Do("GET", "/api/engine/v2/modules/mod-tok", "", admin).Body, save.token)
			})
			for _, role := range []struct{ name, key string }{{"user", userKey}, {"support", supportKey}, {"admin", adminKey}} {
				for _, path := range []string{"/api/engine/v2/modules/mod-tok", "/api/engine/v2/modules/mod-tok/settings", "/api/engine/v2/model"} {
					r := n.Do("GET", path, "", enginetest.APIKey(role.key))
					if r.Status != 200 {
						t.Fatalf("GET %s on %s as %s: %d %s", path, n.ID, role.name, r.Status, r.Body)
					}
					if shown := strings.Contains(r.Body, save.token); shown != (role.key == adminKey) {
						t.Errorf("after %s, GET %s on %s as %s shows the token: %t\n%.600s", save.how, path, n.ID, role.name, shown, r.Body)
					}
				}
			}
		}
		var mod struct {
			Settings          map[string]any `json:"settings"`
			ProtectedSettings []struct {
				Level    string         `json:"level"`
				Settings map[string]any `json:"settings"`
			} `json:"protected_settings"`
		}
		if err := n1.GetJSON("/api/engine/v2/modules/mod-tok", &mod); err != nil {
			t.Fatal(err)
		}
		if _, plain := mod.Settings["token"]; plain || len(mod.ProtectedSettings) != 1 ||
			mod.ProtectedSettings[0].Level != "admin" || mod.ProtectedSettings[0].Settings["token"] != save.token {
			t.Errorf("an admin reads the module as %+v, want the token at level admin only", mod)
		}
		receives(save.token)
		if n := starts(); n != 1 {
			t.Errorf("after %s mod-tok has started %d times: it was restarted, not updated", save.how, n)
		}
	}
	for _, n := range c.Nodes {
		if hits := grepFiles(t, n.DataDir, "RotatedSecret42", "RotatedAgain1701"); len(hits) > 0 {
			t.Errorf("a saved token in clear in %s's data directory:\n%s", n.ID, strings.Join(hits, "\n"))
		}
		if logs := n.Logs().String(); strings.Contains(logs, "RotatedSecret42") || strings.Contains(logs, "RotatedAgain1701") {
			t.Errorf("%s logged a saved token", n.ID)
		}
	}
}
