package builder

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// TestSyncErrorHidesCredentials: a clone or fetch that fails against a real git host that
// answers 500, or a port nobody listens on, leaves no credential of the repository's URI in the
// error, the status or the log, in each form of URI that go-git and net/http print differently
// from the form given (red team 12, finding 2). Every credential in these URIs contains SECRET.
func TestSyncErrorHidesCredentials(t *testing.T) {
	t.Parallel()
	up, hits := testutil.FailingHTTP(t)
	refused := testutil.FreeAddr(t) // claimed for this test, so nothing listens on it

	cases := map[string]string{
		"upper-case scheme":     "HTTP://ghp_SECRETTOKEN6@" + up + "/acme/repo.git",
		"escaped path":          "http://ghp_SECRETTOKEN1@" + up + "/acme/re%70o.git",
		"escaped token":         "http://ghp%5FSECRET%2DTOKEN@" + up + "/acme/repo.git",
		"user and password":     "http://oauth2:glpat-SECRET7@" + up + "/acme/repo.git",
		"path parameter":        "http://" + up + "/acme/re%70o.git;access_token=SECRETP5",
		"query":                 "http://" + up + "/acme/repo.git?access_token=SECRETQ",
		"query item":            "http://" + up + "/acme/repo.git?SECRETQ2",
		"fragment":              "http://" + up + "/acme/repo.git#tok=SECRETF",
		"bare fragment":         "http://" + up + "/acme/repo.git#SECRETF2",
		"refused":               "http://ghp_SECRETTOKEN8@" + refused + "/acme/repo.git",
		"refused, default port": "http://ghp_SECRETTOKEN3@127.0.0.1:80/acme/repo.git",
		"refused, https port":   "https://ghp_SECRETTOKEN4@127.0.0.1:443/acme/repo.git?x=SECRET9",
		"refused, escaped":      "HTTP://ghp_SECRET%54OKEN@" + refused + "/a/re%70o.git;tok=SECRETP6#SECRETF3",
	}
	logs := &testutil.LockedBuffer{}
	b := newBuilder(t, t.TempDir(), func(c *Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
		c.GitTimeout = 20 * time.Second
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	i := 0
	for name, uri := range cases {
		i++
		repo := model.Repository{ID: "r" + string(rune('a'+i)), URI: uri}
		_, err := b.Sync(ctx, repo)
		if !errors.Is(err, ErrRepositoryUnavailable) {
			t.Errorf("%s: a clone that cannot succeed gave %v", name, err)
			continue
		}
		st, _ := b.RepoStatus(repo.ID)
		for what, text := range map[string]string{"error": err.Error(), "status": st.LastError} {
			if strings.Contains(text, "SECRET") {
				t.Errorf("%s: the %s shows a credential: %s", name, what, text)
			}
			if !strings.Contains(text, "clone") {
				t.Errorf("%s: the %s does not say what failed: %s", name, what, text)
			}
		}
	}
	// The same for a fetch: the clone is there, the repository moved to a host that fails.
	src := mustDriverRepo(t)
	if _, err := b.Sync(ctx, repoOf("moved", src)); err != nil {
		t.Fatal(err)
	}
	moved := model.Repository{ID: "moved", URI: "http://ghp_SECRETTOKEN5@" + up + "/acme/repo.git?t=SECRET10"}
	_, err := b.Sync(ctx, moved)
	if !errors.Is(err, errkind.Unavailable) || !strings.Contains(err.Error(), "fetch") {
		t.Fatalf("a fetch that cannot succeed gave %v", err)
	}
	st, _ := b.RepoStatus(moved.ID)
	for _, text := range []string{err.Error(), st.LastError} {
		if strings.Contains(text, "SECRET") {
			t.Errorf("a failed fetch shows a credential: %s", text)
		}
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the log shows a credential:\n%s", logs.String())
	}
	if hits() == 0 {
		t.Fatal("no clone reached the git server: the 500 answers were not tested")
	}
}

// TestRedactErrorForms: a credential goes from a sync error in whichever spelling the error
// quotes it, inside a URL or out of one, while the rest of the message stays readable.
func TestRedactErrorForms(t *testing.T) {
	t.Parallel()
	uri := "https://ghp_SECRET%2Fone@host/r.git;tok=SECRET%20two?k=SECRET+three#SECRET/four"
	for _, text := range []string{
		`Get "https://ghp_SECRET%2Fone@host/r.git": refused`,
		`auth as ghp_SECRET/one failed`,
		`auth as ghp_SECRET%2Fone failed`,
		`tok SECRET two`, `tok SECRET%20two`, `tok "SECRET+three"`, `tok SECRET three`,
		`tok SECRET%2Bthree`, `fragment SECRET/four`, `fragment SECRET%2Ffour`,
		`HTTPS://other:SECRET_ELSE@elsewhere:443/x?y=SECRET_Q`,
	} {
		got := redactError(uri, errors.New(text))
		if strings.Contains(got, "SECRET") {
			t.Errorf("redactError(%q) = %q", text, got)
		}
	}
	const plain = `clone: unexpected client error: status code: 500 at https://host/r.git`
	if got := redactError("https://me@host/r.git", errors.New(plain)); got != plain {
		t.Errorf("a message without credentials changed: %q", got)
	}
}
