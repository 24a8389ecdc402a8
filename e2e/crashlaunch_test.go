package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// crashySecret is a protected setting of the crashing module, which its driver also prints.
const crashySecret = "hunter2-crashy-secret"

// A driver binary that gives up at launch and says why on stderr (the fault report's crashy: it
// exits 3) is reported by that: every role reads the module's runtime_error with its exit status
// and stderr line, through either node, not go-plugin's protocol hint; a protected value it
// prints is hidden there; the node's status counts its launches as it counts its restarts.
func TestCrashAtLaunchSaysWhy(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	crashy := filepath.Join(t.TempDir(), "crashy")
	testutil.WriteScript(t, crashy, "echo 'crashy: login with "+crashySecret+" refused' >&2\necho 'crashy: cannot open config' >&2\nexit 3\n")
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t), "--secrets-key-file", enginetest.SecretsKeyFile(t))
	cfg.APIKey = adminKey
	c := enginetest.StartCluster(t, cfg, "crashy", 2, fmt.Sprintf(`
drivers:
  - {id: drv-crashy, module_name: Crashy, role: service, binary: %q}
modules:
  - id: mod-crashy
    driver_id: drv-crashy
    running: true
    protected_settings: [{level: admin, settings: {password: %q}}]
`, crashy, crashySecret), 1)

	const why = "driver process exited during its launch (exit status 3); its last lines on stderr: crashy: login with [redacted] refused | crashy: cannot open config"
	for _, n := range c.Nodes {
		for _, role := range []struct{ name, key string }{{"user", userKey}, {"support", supportKey}, {"admin", adminKey}} {
			var m struct {
				HasRuntimeError bool   `json:"has_runtime_error"`
				RuntimeError    string `json:"runtime_error"`
			}
			n.Eventually(30*time.Second, "the module's reason read as "+role.name, func() bool {
				r := n.Do("GET", "/api/engine/v2/modules/mod-crashy", "", enginetest.APIKey(role.key))
				return r.Status == 200 && json.Unmarshal([]byte(r.Body), &m) == nil && m.HasRuntimeError && strings.Contains(m.RuntimeError, why)
			})
			if strings.Contains(m.RuntimeError, crashySecret) || strings.Contains(m.RuntimeError, "driver protocol") {
				t.Errorf("runtime_error through %s as %s: %q", n.ID, role.name, m.RuntimeError)
			}
		}
	}

	hosts := 0
	for _, n := range c.Nodes {
		var st struct {
			Drivers []struct {
				Driver       string `json:"driver"`
				LaunchCount  int    `json:"launch_count"`
				RestartCount int    `json:"restart_count"`
				LastExitCode int    `json:"last_exit_code"`
				LastError    string `json:"last_error"`
			} `json:"drivers"`
		}
		if err := n.GetJSON("/api/core/v1/status", &st); err != nil {
			t.Fatalf("status of %s: %v", n.ID, err)
		}
		for _, d := range st.Drivers {
			if d.Driver != crashy {
				continue
			}
			hosts++
			if d.RestartCount < 1 || d.LaunchCount < d.RestartCount || d.LastExitCode != 3 || !strings.Contains(d.LastError, why) {
				t.Errorf("driver status on %s: %+v; want every failed launch counted as a launch, and why", n.ID, d)
			}
		}
	}
	if hosts != 1 {
		t.Errorf("the crashing driver is on %d nodes, want 1", hosts)
	}
}
