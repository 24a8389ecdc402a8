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

// TestLastGoodIsTheDriversOwn: the last known good build a driver's modules fall back to is a
// binary that driver ran, never another driver's of the same repository path, and a module on it
// says so. A driver added while another on its path runs, pinned to a commit that is not in the
// repository, is not started (its module says why) — where it used to run the other driver's
// binary, healthy-looking; a driver re-pinned from its good commit to one that does not compile,
// then to one that is missing, keeps running its own previous build, and its read says which,
// to every role on every node, until a good pin clears it.
func TestLastGoodIsTheDriversOwn(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	repo := newRepo(t)
	first := repo.head()
	repo.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "v2"))
	repo.commit("v2")
	second := repo.head()
	repo.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "v3")+"\nfunc broken() { this does not compile }\n")
	repo.commit("v3, broken")
	broken := repo.head()
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	model := fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: drv-pinned, module_name: Pinned, role: service, repository_id: repo-1, path: drivers/hello, commit: %q}
  - {id: drv-repin, module_name: Repin, role: service, repository_id: repo-1, path: drivers/hello, commit: %q}
modules:
  - {id: mod-pinned, driver_id: drv-pinned, running: true}
  - {id: mod-repin, driver_id: drv-repin, running: true}
`, repo.dir, first[:7], second[:7])
	// Two nodes: a read on either says the same, whichever hosts the module.
	cfg := config(redis.URL, "--sdk-dir", root, "--auth", "keys", "--api-keys", apiKeysFile(t))
	cfg.APIKey = adminKey
	c := enginetest.StartCluster(t, cfg, "lastgood", 2, model, 2)
	e := c.Nodes[0]
	api := "/api/engine/v2"
	admin := enginetest.APIKey(adminKey)
	version := func(id string) string {
		return e.Do("POST", api+"/modules/"+id+"/exec/version", "[]", admin).Body
	}
	e.Eventually(90*time.Second, "both drivers answering", func() bool {
		return version("mod-pinned") == `"v1"` && version("mod-repin") == `"v2"`
	})
	type moduleRead struct {
		Connected       bool   `json:"connected"`
		HasRuntimeError bool   `json:"has_runtime_error"`
		DriverNotBuilt  bool   `json:"driver_not_built"`
		RuntimeError    string `json:"runtime_error"`
	}
	readOn := func(n *enginetest.Node, id, key string) moduleRead {
		t.Helper()
		var m moduleRead
		r := n.Do("GET", api+"/modules/"+id, "", enginetest.APIKey(key))
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &m) != nil {
			t.Fatalf("read of %s on %s: %d %s", id, n.ID, r.Status, r.Body)
		}
		return m
	}
	read := func(id, key string) moduleRead { t.Helper(); return readOn(e, id, key) }
	// everyRead is the read of id by every role on every node.
	everyRead := func(id string, check func(where string, m moduleRead)) {
		t.Helper()
		for _, n := range c.Nodes {
			for _, key := range []string{userKey, supportKey, adminKey} {
				check(fmt.Sprintf("on %s by %s", n.ID, key), readOn(n, id, key))
			}
		}
	}

	// A new driver on the same path, pinned to a commit the repository does not have: this node
	// never ran it, so its module is not started, and says why.
	if r := e.Do("POST", api+"/drivers", `{"id": "drv-missing", "module_name": "Missing", "role": "service",
		"repository_id": "repo-1", "path": "drivers/hello", "commit": "deadbee"}`, admin); r.Status != 201 && r.Status != 200 {
		t.Fatalf("create drv-missing: %d %s", r.Status, r.Body)
	}
	if r := e.Do("POST", api+"/modules", `{"id": "mod-missing", "driver_id": "drv-missing", "running": true}`, admin); r.Status != 201 && r.Status != 200 {
		t.Fatalf("create mod-missing: %d %s", r.Status, r.Body)
	}
	// Settled: it says why it does not run, or it answers (with another driver's build).
	e.Eventually(60*time.Second, "mod-missing settled", func() bool {
		return read("mod-missing", adminKey).RuntimeError != "" || strings.HasPrefix(version("mod-missing"), `"v`)
	})
	everyRead("mod-missing", func(where string, m moduleRead) {
		if !m.DriverNotBuilt || m.Connected || !strings.Contains(m.RuntimeError, "commit deadbee is not in the repository") {
			t.Errorf("mod-missing read %s: %+v; want not built, not connected, the missing commit named", where, m)
		}
	})
	if r := e.Do("POST", api+"/modules/mod-missing/exec/version", "[]", admin); r.Status != 503 || strings.Contains(r.Body, `"v`) {
		t.Errorf("exec on mod-missing: %d %s; want 503, not another driver's answer", r.Status, r.Body)
	}

	// drv-repin re-pinned to a commit that does not compile, then to one that is missing: its
	// module keeps running its own previous build (v2, not drv-pinned's v1), and says so.
	repin := func(commit string) {
		t.Helper()
		body := fmt.Sprintf(`{"id": "drv-repin", "module_name": "Repin", "role": "service", "repository_id": "repo-1",
			"path": "drivers/hello", "commit": %q}`, commit)
		if r := e.Do("PUT", api+"/drivers/drv-repin", body, admin); r.Status != 200 {
			t.Fatalf("re-pin drv-repin to %s: %d %s", commit, r.Status, r.Body)
		}
	}
	for _, tc := range []struct{ commit, why string }{
		{broken, "syntax error"},
		{"cafe123", "commit cafe123 is not in the repository"},
	} {
		repin(tc.commit)
		want := fmt.Sprintf("driver build of commit %.7s failed: ", tc.commit)
		e.Eventually(60*time.Second, "mod-repin's read naming the failed build of "+tc.commit, func() bool {
			return strings.Contains(read("mod-repin", adminKey).RuntimeError, want)
		})
		everyRead("mod-repin", func(where string, m moduleRead) {
			if !m.HasRuntimeError || m.DriverNotBuilt || !m.Connected || !strings.Contains(m.RuntimeError, tc.why) ||
				!strings.HasSuffix(m.RuntimeError, fmt.Sprintf("; running the last good build (commit %.7s)", second)) {
				t.Errorf("mod-repin read %s after the re-pin to %.7s: %+v", where, tc.commit, m)
			}
		})
		if v := version("mod-repin"); v != `"v2"` {
			t.Errorf("mod-repin after the re-pin to %.7s answers %s, want its own last good v2", tc.commit, v)
		}
	}

	// Back on a good pin: the module runs it and its read is clean again.
	repin(second)
	e.Eventually(60*time.Second, "mod-repin's read clean on a good pin", func() bool {
		m := read("mod-repin", adminKey)
		return !m.HasRuntimeError && m.RuntimeError == "" && m.Connected
	})
	if v := version("mod-repin"); v != `"v2"` {
		t.Errorf("mod-repin back on its good pin answers %s", v)
	}
}

// head is the repository's current commit.
func (r *driverRepo) head() string { return strings.TrimSpace(r.git("rev-parse", "HEAD")) }
