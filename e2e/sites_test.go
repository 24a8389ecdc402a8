package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

const siteModules = 6 // per site

// sitesModel places siteModules modules on site=a by their own placement and siteModules on
// site=b by their system's.
func sitesModel(drv string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "drivers: [{id: drv-test, module_name: Test, role: service, binary: %q}]\nmodules:\n", drv)
	var as, bs []string
	for i := 1; i <= siteModules; i++ {
		as, bs = append(as, fmt.Sprintf("mod-a%d", i)), append(bs, fmt.Sprintf("mod-b%d", i))
		fmt.Fprintf(&b, "  - {id: mod-a%d, driver_id: drv-test, running: true, settings: {num: %d}, placement: {site: a}}\n", i, i)
		fmt.Fprintf(&b, "  - {id: mod-b%d, driver_id: drv-test, running: true, settings: {num: %d}}\n", i, 100+i)
	}
	fmt.Fprintf(&b, "systems:\n  - {id: sys-a, name: A, modules: [%s]}\n  - {id: sys-b, name: B, modules: [%s], placement: {site: b}}\n",
		strings.Join(as, ", "), strings.Join(bs, ", "))
	return b.String()
}

// TestSites: a 5-node cluster with two sites — 3 voters labelled site=a, 2 non-voters site=b —
// places each site's modules on its own nodes; killing a site=b node moves its modules to the
// other site=b node only; killing both leaves the site=b modules unplaced (503 with the reason,
// listed on the status routes and in /metrics) while site=a answers; one coming back places
// them again; the leader never changes.
func TestSites(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.NewCluster(t, config(rds.URL), "site", 5)
	for i, n := range c.Nodes {
		n.Flags = []string{"--labels", "site=a"}
		if i >= 3 {
			n.Flags = []string{"--labels", "site = b", "--voter=false"}
		}
	}
	c.Start(sitesModel(drv), 2*siteModules)
	n1, n4, n5 := c.Nodes[0], c.Nodes[3], c.Nodes[4]
	leader := c.Leader().ID

	ci, err := n1.Info()
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range ci.Nodes {
		site, voter := "a", true
		if i >= 3 {
			site, voter = "b", false
		}
		if n.Labels["site"] != site || n.Voter != voter {
			t.Fatalf("node %s: labels %v voter %v, want site=%s voter %v", n.ID, n.Labels, n.Voter, site, voter)
		}
	}
	onSite := func(place map[string]string, want map[string][]string) {
		t.Helper()
		for mod, node := range place {
			if !slices.Contains(want[mod[:5]], node) {
				t.Fatalf("%s runs on %s, want one of %v (placement %v)", mod, node, want[mod[:5]], place)
			}
		}
	}
	before := c.WaitHealthy(5)
	onSite(before, map[string][]string{"mod-a": {"site-1", "site-2", "site-3"}, "mod-b": {"site-4", "site-5"}})
	answers := func(n *enginetest.Node, mod string) enginetest.Response {
		return n.Do("POST", "/api/engine/v2/modules/"+mod+"/exec/settings", "[]")
	}

	// One site=b node gone: its modules move to the other, and nothing else moves.
	testutil.WaitGone(t, n5.Kill()...)
	after := c.WaitHealthy(4)
	onSite(after, map[string][]string{"mod-a": {"site-1", "site-2", "site-3"}, "mod-b": {"site-4"}})
	for mod, node := range before {
		if strings.HasPrefix(mod, "mod-a") && after[mod] != node {
			t.Fatalf("%s moved from %s to %s when a site=b node left", mod, node, after[mod])
		}
	}

	// Both gone: site=b is unplaced, site=a answers, the leader stays.
	testutil.WaitGone(t, n4.Kill()...)
	c.Eventually(30*time.Second, "the site=b modules unplaced, the rest of the cluster ready", func() bool {
		ci, err := n1.Info()
		return err == nil && len(ci.Unplaced) == siteModules && ci.Up() == 3 && ci.Ready
	})
	for i := 1; i <= siteModules; i++ {
		r := answers(n1, fmt.Sprintf("mod-a%d", i))
		if r.Status != 200 || !enginetest.JSONEqual(r.Body, fmt.Sprintf(`{"num": %d}`, i)) {
			t.Fatalf("mod-a%d with site=b down: %d %s", i, r.Status, r.Body)
		}
		for _, n := range c.Live() {
			r = answers(n, fmt.Sprintf("mod-b%d", i))
			if r.Status != 503 || !strings.Contains(r.Body, `"error":"unavailable"`) ||
				!strings.Contains(r.Body, fmt.Sprintf(`module \"mod-b%d\" is unplaced: no node up with site=b`, i)) {
				t.Fatalf("mod-b%d through %s with site=b down: %d %s", i, n.ID, r.Status, r.Body)
			}
		}
	}
	r := n1.Do("POST", "/api/engine/v2/systems/sys-b/Test_1/settings", "[]")
	if r.Status != 503 || !strings.Contains(r.Body, "no node up with site=b") {
		t.Fatalf("sys-b's Test_1 with site=b down: %d %s", r.Status, r.Body)
	}
	ws := dialWS(t, n1, "")
	if code := ws.request(1, `{"id": 1, "cmd": "exec", "sys": "sys-b", "mod": "Test", "index": 2, "name": "settings", "args": []}`); code != 503 {
		t.Fatalf("WebSocket exec of sys-b's Test_2 with site=b down: code %d", code)
	}
	if code, out := runEngine(t, 30*time.Second, "status", "--server", n1.Base); code != 1 ||
		!regexp.MustCompile(`(?m)^mod-b1\s+-\s+unplaced\s+no node up with site=b$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^site-4\s+\S+\s+down\s+false\s+false\s+false\s+site=b\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^site-1\s+\S+\s+up\s+true\s+\S+\s+true\s+site=a\s`).MatchString(out) {
		t.Fatalf("engine status with site=b down: exit %d:\n%s", code, out)
	}
	var st struct {
		Unplaced []enginetest.Unplaced `json:"unplaced"`
	}
	if err := n1.GetJSON("/api/core/v1/status", &st); err != nil || len(st.Unplaced) != siteModules ||
		st.Unplaced[0] != (enginetest.Unplaced{ID: "mod-b1", Placement: "site=b", Reason: "no node up with site=b"}) {
		t.Fatalf("node status unplaced %+v, %v", st.Unplaced, err)
	}
	// Starting it says why it will not run (running is set all the same).
	if r := n1.Do("POST", "/api/engine/v2/modules/mod-b1/start", ""); r.Status != 503 || !strings.Contains(r.Body, "unplaced") {
		t.Fatalf("start of unplaced mod-b1: %d %s", r.Status, r.Body)
	}
	// No node runs it: its module read says so, whatever its last instance left in its status.
	if r := n1.Do("GET", "/api/engine/v2/modules/mod-b1", ""); !strings.Contains(r.Body, `"core_node":""`) || !strings.Contains(r.Body, `"connected":false`) {
		t.Fatalf("module read of unplaced mod-b1: %s", r.Body)
	}
	if m := n1.Do("GET", "/metrics", ""); !strings.Contains(m.Body, fmt.Sprintf(`engine_modules_unplaced{constraint="site=b"} %d`, siteModules)) {
		t.Fatalf("/metrics lacks the unplaced gauge:\n%s", grepLines(m.Body, "unplaced"))
	}
	if got := c.Leader().ID; got != leader {
		t.Fatalf("the leader changed from %s to %s when the non-voters died", leader, got)
	}

	// One site=b node back: the site=b modules are placed on it again.
	n4.Start()
	back := c.WaitHealthy(4)
	onSite(back, map[string][]string{"mod-a": {"site-1", "site-2", "site-3"}, "mod-b": {"site-4"}})
	if r := answers(n1, "mod-b3"); r.Status != 200 || !enginetest.JSONEqual(r.Body, `{"num": 103}`) {
		t.Fatalf("mod-b3 once site-4 is back: %d %s", r.Status, r.Body)
	}
	if got := c.Leader().ID; got != leader {
		t.Fatalf("the leader changed from %s to %s", leader, got)
	}
	if ci, _ := n1.Info(); len(ci.Unplaced) != 0 {
		t.Fatalf("still unplaced: %+v", ci.Unplaced)
	}
}
