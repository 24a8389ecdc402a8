package e2e

import (
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A repository URI carrying credentials in every place people put them — user information, a
// ;password= path parameter, a query token and a #fragment — shows none of them to a user or a
// support engineer on any read of the node (the repository, the list, the whole model, the
// node's status with the builder's view of it); an admin reads it as written.
func TestRepositoryURISecretsHiddenBelowAdmin(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	const uri = "https://deploy:USERSECRET@127.0.0.1:9/acme/r.git;password=SEMISECRET?access_token=QUERYSECRET#tok=FRAGSECRET"
	model := "repositories: [{id: repo-1, uri: \"" + uri + "\"}]\n"
	e := enginetest.StartEngine(t, config(redis.URL), "e2e-reposecrets", model, "--auth", "keys", "--api-keys", apiKeysFile(t))
	reads := []string{
		"/api/engine/v2/repositories/repo-1", "/api/engine/v2/repositories", "/api/engine/v2/model", "/api/core/v1/status",
	}
	for _, key := range []string{userKey, supportKey} {
		for _, path := range reads {
			r := e.Do("GET", path, "", enginetest.APIKey(key))
			if r.Status != 200 {
				t.Errorf("GET %s as %s: %d %s", path, key, r.Status, r.Body)
				continue
			}
			for _, secret := range []string{"USERSECRET", "SEMISECRET", "QUERYSECRET", "FRAGSECRET"} {
				if strings.Contains(r.Body, secret) {
					t.Errorf("GET %s as %s shows %s: %s", path, key, secret, r.Body)
				}
			}
		}
	}
	if r := e.Do("GET", reads[0], "", enginetest.APIKey(userKey)); !strings.Contains(r.Body, "127.0.0.1:9/acme/r.git;password=xxxxx?access_token=xxxxx#tok=xxxxx") {
		t.Errorf("a user's read does not name the repository: %s", r.Body)
	}
	if r := e.Do("GET", reads[0], "", enginetest.APIKey(adminKey)); !strings.Contains(r.Body, uri) {
		t.Errorf("an admin's read: %s, want the URI as written", r.Body)
	}
}
