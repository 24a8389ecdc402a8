package builder

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

func TestCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	testutil.WriteFile(t, token, "s3cret-token\n")
	file := filepath.Join(dir, "credentials.yaml")
	testutil.WriteFile(t, file, fmt.Sprintf("- repository: private\n  token_file: %s\n- uri_prefix: https://git.acme.test/\n  username: bot\n  token_file: %s\n", token, token))
	creds, err := LoadCredentials(file)
	if err != nil {
		t.Fatal(err)
	}
	b := newBuilder(t, t.TempDir(), func(c *Config) { c.Credentials = creds })
	tests := []struct {
		repo model.Repository
		user string // "" means no credentials
	}{
		{model.Repository{ID: "private", URI: "https://github.com/acme/x"}, "x-access-token"},
		{model.Repository{ID: "other", URI: "https://git.acme.test/drivers"}, "bot"},
		{model.Repository{ID: "public", URI: "https://github.com/acme/public"}, ""},
	}
	for _, tt := range tests {
		auth, err := b.auth(tt.repo)
		if err != nil {
			t.Fatal(err)
		}
		if tt.user == "" {
			if auth != nil {
				t.Errorf("%s: unexpected credentials %v", tt.repo.ID, auth)
			}
			continue
		}
		basic, ok := auth.(*githttp.BasicAuth)
		if !ok || basic.Username != tt.user || basic.Password != "s3cret-token" {
			t.Errorf("%s: got %#v", tt.repo.ID, auth)
		}
		// What a log line would show of either must not contain the secret.
		if strings.Contains(fmt.Sprint(auth), "s3cret") || strings.Contains(fmt.Sprint(creds), "s3cret") {
			t.Errorf("%s: secret visible in %v / %v", tt.repo.ID, auth, creds)
		}
	}
	for _, bad := range []string{"- token_file: /x\n", "- repository: r\n", "- repository: r\n  tokenfile: x\n"} {
		testutil.WriteFile(t, file, bad)
		if _, err := LoadCredentials(file); err == nil {
			t.Errorf("LoadCredentials accepted %q", bad)
		}
	}
}
