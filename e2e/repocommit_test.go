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

// TestPinnedCommitNeverABranch: a driver pinned to a commit that is not in its repository is not
// built, even when a branch or a tag carries the commit's name (anyone who may push can make
// one); its module says why, to every role, and the recompile route answers 404 to an admin
// (403 below) — where the node used to build whatever the branch pointed at (red team 12,
// finding 6).
func TestPinnedCommitNeverABranch(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	repo := newRepo(t)
	repo.git("checkout", "-q", "-b", "cafe123")
	repo.write("drivers/hello/main.go", fmt.Sprintf(helloMain, "attacker"))
	repo.commit("attacker")
	repo.git("tag", "beef1234")
	repo.git("checkout", "-q", "main")
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	model := fmt.Sprintf(`
repositories: [{id: repo-1, uri: %q}]
drivers:
  - {id: d-branch, module_name: B, role: service, repository_id: repo-1, path: drivers/hello, commit: cafe123}
  - {id: d-tag, module_name: T, role: service, repository_id: repo-1, path: drivers/hello, commit: beef1234}
modules:
  - {id: m-branch, driver_id: d-branch, running: true}
  - {id: m-tag, driver_id: d-tag, running: true}
`, repo.dir)
	e := enginetest.StartEngine(t, config(redis.URL, "--sdk-dir", root), "e2e-repocommit", model,
		"--auth", "keys", "--api-keys", apiKeysFile(t))
	api := "/api/engine/v2"
	for _, id := range []string{"m-branch", "m-tag"} {
		e.Eventually(60*time.Second, id+"'s missing commit shown", func() bool {
			r := e.Do("GET", api+"/modules/"+id, "", enginetest.APIKey(userKey))
			return strings.Contains(r.Body, "is not in the repository") || strings.Contains(r.Body, `"connected":true`)
		})
		for _, key := range []string{userKey, supportKey, adminKey} {
			var m struct {
				RuntimeError string `json:"runtime_error"`
			}
			r := e.Do("GET", api+"/modules/"+id, "", enginetest.APIKey(key))
			if json.Unmarshal([]byte(r.Body), &m) != nil || !strings.Contains(m.RuntimeError, "is not in the repository") {
				t.Errorf("%s read by %s: %d %s", id, key, r.Status, r.Body)
			}
		}
	}
	for _, id := range []string{"d-branch", "d-tag"} {
		if r := e.Do("POST", api+"/drivers/"+id+"/recompile", "", enginetest.APIKey(adminKey)); r.Status != 404 ||
			!strings.Contains(r.Body, "is not in the repository") || !strings.Contains(r.Body, `"error":"not_found"`) {
			t.Errorf("recompile %s as admin: %d %s, want 404 not_found", id, r.Status, r.Body)
		}
		if r := e.Do("POST", api+"/drivers/"+id+"/recompile", "", enginetest.APIKey(userKey)); r.Status != 403 {
			t.Errorf("recompile %s as user: %d %s, want 403", id, r.Status, r.Body)
		}
	}
	var st struct {
		Builds  []json.RawMessage `json:"builds"`
		Drivers []json.RawMessage `json:"drivers"`
	}
	r := e.Do("GET", "/api/core/v1/status", "", enginetest.APIKey(adminKey))
	if json.Unmarshal([]byte(r.Body), &st) != nil || len(st.Builds)+len(st.Drivers) != 0 {
		t.Errorf("something was built or runs: %s", r.Body)
	}
}
