package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// protectedReadsModel: Test modules mod-p1..mod-p6 are protected by their custom name _Audit and
// refuse to start (their failure quotes their settings, "secret-room-N"); mod-u is the same,
// failing, under the plain custom name Audit; mod-t runs driver _Probe (protected by the driver's
// module_name) and mod-v the same driver under the plain custom name Probe; mod-a is a plain
// Test module that runs.
func protectedReadsModel(drv string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `drivers:
  - {id: drv-test, module_name: Test, role: service, binary: %q}
  - {id: drv-probe, module_name: _Probe, role: service, binary: %q}
modules:
  - {id: mod-a, driver_id: drv-test, running: true}
  - {id: mod-u, driver_id: drv-test, custom_name: Audit, running: true, settings: {refuse_start: true, audit_room: open-room}}
  - {id: mod-t, driver_id: drv-probe, running: true, settings: {probe_at: probe-secret}}
  - {id: mod-v, driver_id: drv-probe, custom_name: Probe, running: true, settings: {probe_at: probe-open}}
`, drv, drv)
	ids := []string{"mod-a", "mod-u", "mod-t", "mod-v"}
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "  - {id: mod-p%d, driver_id: drv-test, custom_name: _Audit, running: true, settings: {refuse_start: true, audit_room: secret-room-%d}}\n", i, i)
		ids = append(ids, fmt.Sprintf("mod-p%d", i))
	}
	fmt.Fprintf(&b, "systems: [{id: sys-1, name: Room, modules: [%s]}]\n", strings.Join(ids, ", "))
	return b.String()
}

// TestProtectedModuleReadsEveryRole: what each role reads of a protected module on the routes
// that answer about modules without the 403 of its statuses (docs/protocol.md §8.3): module
// reads (GET /modules, /modules/{id}, /model, /modules/{id}/settings) and the node and cluster
// status, on both nodes of a cluster (the cluster status asks the other node for the caller). A
// user sees the protected modules listed, but no state (runtime fields, a failed start's words)
// and no settings value of theirs; support and admin see everything; a module's custom name
// decides, both ways. The statuses, functions and executes of a protected module are
// TestLeastPrivilege's.
func TestProtectedModuleReadsEveryRole(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t))
	cfg.APIKey = adminKey
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	// Ten modules placed: three run (mod-a, mod-t, mod-v), and the driver process holds the seven
	// others though their start failed (it tries them again).
	c := enginetest.StartCluster(t, cfg, "protread", 2, protectedReadsModel(drv), 10)
	protected := []string{"mod-t"}
	for i := 1; i <= 6; i++ {
		protected = append(protected, fmt.Sprintf("mod-p%d", i))
	}
	plain := []string{"mod-a", "mod-u", "mod-v"}
	secrets := []string{"secret-room-", "probe-secret"}
	runtime := []string{"core_node", "connected", "has_runtime_error", "error_timestamp", "driver_not_built", "runtime_error"}

	// Every failing module's failure is recorded and seen by an admin on both nodes first.
	for _, n := range c.Nodes {
		n.Eventually(60*time.Second, "every refused start recorded", func() bool {
			for _, id := range []string{"mod-u", "mod-p1", "mod-p2", "mod-p3", "mod-p4", "mod-p5", "mod-p6"} {
				if r := n.Do("GET", "/api/engine/v2/modules/"+id, "", enginetest.APIKey(adminKey)); !strings.Contains(r.Body, `"has_runtime_error":true`) {
					return false
				}
			}
			return true
		})
	}
	// The failures are spread over both nodes, so that each node's cluster status asks the other
	// node about a protected module's failure (placement is by the modules' and nodes' ids).
	hosts := map[string]bool{}
	for _, id := range protected[1:] {
		var m struct {
			CoreNode string `json:"core_node"`
		}
		_ = json.Unmarshal([]byte(c.Nodes[0].Do("GET", "/api/engine/v2/modules/"+id, "", enginetest.APIKey(adminKey)).Body), &m)
		hosts[m.CoreNode] = true
	}
	if len(hosts) != 2 {
		t.Fatalf("the failing protected modules are all on %v; the cluster status would not ask another node about one", hosts)
	}

	for _, role := range []struct {
		name, key string
		cleared   bool
	}{{"user", userKey, false}, {"support", supportKey, true}, {"admin", adminKey, true}} {
		t.Run(role.name, func(t *testing.T) {
			t.Parallel()
			key := enginetest.APIKey(role.key)
			for _, n := range c.Nodes {
				get := func(path string) string {
					t.Helper()
					r := n.Do("GET", path, "", key)
					if r.Status != 200 {
						t.Fatalf("%s: GET %s on %s: %d %s", role.name, path, n.ID, r.Status, r.Body)
					}
					return r.Body
				}
				// What a reader below support may never see, anywhere.
				var all strings.Builder
				for _, p := range []string{"/api/engine/v2/modules?limit=100", "/api/engine/v2/model", "/api/core/v1/status", "/api/core/v1/status/cluster"} {
					all.WriteString(get(p))
				}
				for _, id := range append(append([]string{}, protected...), plain...) {
					body := get("/api/engine/v2/modules/" + id)
					all.WriteString(body + get("/api/engine/v2/modules/"+id+"/settings"))
					var read map[string]json.RawMessage
					if err := json.Unmarshal([]byte(body), &read); err != nil {
						t.Fatal(err)
					}
					hidden := !role.cleared && !slices.Contains(plain, id)
					for _, f := range runtime {
						if _, has := read[f]; has == hidden {
							t.Errorf("%s on %s: GET /modules/%s has %s: %v; want %v", role.name, n.ID, id, f, has, !hidden)
						}
					}
					if !hidden && id != "mod-a" && id != "mod-t" && id != "mod-v" && !strings.Contains(body, "refusing to start") {
						t.Errorf("%s on %s: GET /modules/%s does not say why it fails: %s", role.name, n.ID, id, body)
					}
				}
				for _, s := range secrets {
					if got := strings.Contains(all.String(), s); got != role.cleared {
						t.Errorf("%s on %s: the reads show %q: %v; want %v", role.name, n.ID, s, got, role.cleared)
					}
				}
				// The plain modules' settings and failure stay everyone's to read; the protected
				// ones stay listed.
				for _, s := range []string{"open-room", "probe-open", `"id":"mod-p1"`, `"id":"mod-t"`} {
					if !strings.Contains(all.String(), s) {
						t.Errorf("%s on %s: the reads do not show %q", role.name, n.ID, s)
					}
				}
				// Each node's status names every module it holds, a protected one without its error,
				// and as running when the model says so (its failed start read running: false).
				var cl struct {
					Nodes []struct {
						Node   string
						Status struct {
							Failures []struct{ ID string }
							Modules  []struct {
								ID      string
								Running bool
							}
						}
					}
				}
				if err := json.Unmarshal([]byte(get("/api/core/v1/status/cluster")), &cl); err != nil || len(cl.Nodes) != 2 {
					t.Fatalf("%s: status/cluster on %s: %v", role.name, n.ID, err)
				}
				failing, running := map[string]bool{}, map[string]bool{}
				for _, e := range cl.Nodes {
					for _, f := range e.Status.Failures {
						failing[f.ID] = true
					}
					for _, m := range e.Status.Modules {
						running[m.ID] = m.Running
					}
				}
				for _, id := range []string{"mod-u", "mod-p1", "mod-p6"} {
					if want := role.cleared || id == "mod-u"; failing[id] != want {
						t.Errorf("%s: status/cluster on %s lists %s among the failures: %v; want %v", role.name, n.ID, id, failing[id], want)
					}
					if want := !role.cleared && id != "mod-u"; running[id] != want {
						t.Errorf("%s: status/cluster on %s says %s runs: %v; want %v", role.name, n.ID, id, running[id], want)
					}
				}
			}
		})
	}
}
