package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// TestRepositorySyncErrorHidesCredentials: when the git host of a repository fails (it answers
// 500, or nothing listens), the error every role reads — the module's runtime_error, the node's
// status, the cluster's status, on the node that cloned and on the other — and both engines' logs
// name none of the credentials of the repository's URI, in any of the forms go-git and net/http
// print a URL differently from the one given: upper-case scheme, a token as the user name, an
// explicit default port, a %-escaped path, a ;parameter, a query, a fragment (red team 12,
// finding 2).
func TestRepositorySyncErrorHidesCredentials(t *testing.T) {
	t.Parallel()
	up, hits := testutil.FailingHTTP(t)
	refused := testutil.FreeAddr(t) // claimed for this test, so nothing listens on it
	uris := []string{
		"HTTP://ghp_SECRETTOKEN1@" + up + "/acme/repo.git",
		"http://ghp_SECRETTOKEN2@" + up + "/acme/re%70o.git",
		"http://" + up + "/acme/re%70o.git;access_token=SECRETP3",
		"http://" + up + "/acme/repo.git?access_token=SECRETQ4#tok=SECRETF4",
		"http://ghp_SECRETTOKEN5@127.0.0.1:80/acme/repo.git",
		"http://ghp_SECRETTOKEN6@" + refused + "/acme/repo.git",
	}
	var model strings.Builder
	model.WriteString("repositories:\n")
	for i, u := range uris {
		fmt.Fprintf(&model, "  - {id: r%d, uri: %q}\n", i, u)
	}
	model.WriteString("drivers:\n")
	for i := range uris {
		fmt.Fprintf(&model, "  - {id: d%d, module_name: D%d, role: service, repository_id: r%d, path: drivers/hello}\n", i, i, i)
	}
	model.WriteString("modules:\n")
	for i := range uris {
		fmt.Fprintf(&model, "  - {id: m%d, driver_id: d%d, running: true}\n", i, i)
	}
	redis := testutil.StartRedis(t)
	cfg := config(redis.URL, "--auth", "keys", "--api-keys", apiKeysFile(t))
	cfg.APIKey = adminKey
	c := enginetest.StartCluster(t, cfg, "reposyncerr", 2, model.String(), 0) // nothing builds: nothing placed

	api := "/api/engine/v2"
	for _, n := range c.Nodes {
		for i := range uris {
			n.Eventually(30*time.Second, fmt.Sprintf("m%d's failed clone shown on %s", i, n.ID), func() bool {
				r := n.Do("GET", fmt.Sprintf("%s/modules/m%d", api, i), "", enginetest.APIKey(userKey))
				return strings.Contains(r.Body, "clone")
			})
		}
	}
	if hits() == 0 {
		t.Fatal("no clone reached the git server: the 500 answers were not tested")
	}
	for _, key := range []string{userKey, supportKey, adminKey} {
		for _, n := range c.Nodes {
			reads := []string{"/api/core/v1/status", "/api/core/v1/status/cluster"}
			for i := range uris {
				reads = append(reads, fmt.Sprintf("%s/modules/m%d", api, i))
			}
			for _, path := range reads {
				r := n.Do("GET", path, "", enginetest.APIKey(key))
				if r.Status != 200 || strings.Contains(r.Body, "SECRET") {
					t.Errorf("GET %s on %s as %s: %d %s", path, n.ID, key, r.Status, r.Body)
				}
			}
		}
	}
	// The status shows the failure, named by repository.
	if r := c.Nodes[0].Do("GET", "/api/core/v1/status/cluster", "", enginetest.APIKey(userKey)); !strings.Contains(r.Body, "status code: 500") ||
		!strings.Contains(r.Body, "connection refused") {
		t.Errorf("the cluster status does not say why the clones failed: %s", r.Body)
	}
	for _, n := range c.Nodes {
		if logs := n.Logs().String(); strings.Contains(logs, "SECRET") {
			t.Errorf("%s's log shows a credential:\n%s", n.ID, logs)
		}
	}
}
