package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

func TestValidateURI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uri string
		ok  bool
	}{
		{"https://github.com/acme/drivers.git", true},
		{"http://git.local/acme/drivers", true},
		{"ssh://git@github.com/acme/drivers.git", true},
		{"git://git.local/drivers", true},
		{"file:///srv/git/drivers", true},
		{"git@github.com:acme/drivers.git", true},
		{"/srv/git/drivers", true},
		{"", false},
		{"--upload-pack=touch /tmp/pwned", false},
		{"-c", false},
		{"ext::sh -c touch% /tmp/pwned", false},
		{"ftp://host/repo", false},
		{"relative/path", false},
		{"../escape", false},
		{"/srv/../etc", false},
		{"file:///srv/../etc", false},
		{"file://otherhost/srv/repo", false},
		{"https://-oProxyCommand=x/repo", false},
		{"ssh://-oProxyCommand=touch/repo", false},
		{"-oProxyCommand=x:repo", false},
		{"host:-repo", false},
		{"https://host/repo\nx", false},
		{"https://host/re po", false},
	}
	for _, tt := range tests {
		err := ValidateURI(tt.uri)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateURI(%q) = %v, want ok=%v", tt.uri, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || !errors.Is(err, errkind.BadRequest) ||
			!strings.Contains(err.Error(), "repository.uri")) {
			t.Errorf("ValidateURI(%q) error %v should be a BadRequest naming the field", tt.uri, err)
		}
	}
}

func TestValidateURIRedactsPassword(t *testing.T) {
	t.Parallel()
	err := ValidateURI("ftp://user:hunter2@host/repo")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("password leaked or not refused: %v", err)
	}
}

func TestValidateBranch(t *testing.T) {
	t.Parallel()
	for _, b := range []string{"main", "release/1.2", "feature-x", "v1.0.0", "a_b"} {
		if err := ValidateBranch(b); err != nil {
			t.Errorf("ValidateBranch(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "-b", "--orphan", "@", "a..b", "a//b", "/a", "a/", "a.", "a.lock",
		"a/.hidden", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "a@{1}", "a\x01"} {
		err := ValidateBranch(b)
		if err == nil || !strings.Contains(err.Error(), "repository.branch") {
			t.Errorf("ValidateBranch(%q) = %v, want an error naming repository.branch", b, err)
		}
	}
}

func TestValidateDriverPath(t *testing.T) {
	t.Parallel()
	for _, p := range []string{".", "drivers/display", "display", "a/b_c/d-e/v1.2"} {
		if err := ValidateDriverPath(p); err != nil {
			t.Errorf("ValidateDriverPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "/etc", "../x", "a/../../x", "a/..", "./a", "a/", "a//b",
		"-toolexec=touch", "a/-o", ".git", "a/.git/hooks", "a+b", "a b", "a\\b", "a;b", "$(x)"} {
		err := ValidateDriverPath(p)
		if err == nil || !strings.Contains(err.Error(), "driver.path") {
			t.Errorf("ValidateDriverPath(%q) = %v, want an error naming driver.path", p, err)
		}
	}
}

func TestValidateCommit(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"abc1234", "0123456789abcdef0123456789abcdef01234567"} {
		if err := ValidateCommit(c); err != nil {
			t.Errorf("ValidateCommit(%q) = %v", c, err)
		}
	}
	for _, c := range []string{"", "abc123", "ABC1234", "--all", "HEAD", "abc1234x",
		"0123456789abcdef0123456789abcdef012345678"} {
		if err := ValidateCommit(c); err == nil || !strings.Contains(err.Error(), "driver.commit") {
			t.Errorf("ValidateCommit(%q) = %v", c, err)
		}
	}
}

func TestValidateRepositoryID(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"", "../x", "a/b", ".hidden", "-x"} {
		err := ValidateRepository(model.Repository{ID: id, URI: "/srv/repo"})
		if err == nil || !strings.Contains(err.Error(), "repository.id") {
			t.Errorf("id %q: %v", id, err)
		}
	}
}

func TestSafeTreePath(t *testing.T) {
	t.Parallel()
	for p, ok := range map[string]bool{"a/b.go": true, "go.mod": true, "../x": false, "a/../../x": false,
		"/etc/passwd": false, ".git/config": false, "a/.GIT/hooks/x": false, "": false, "a\\b": false} {
		if safeTreePath(p) != ok {
			t.Errorf("safeTreePath(%q) != %v", p, ok)
		}
	}
}

// TestInjectionRefused sends hostile fields through the public calls: each is refused before
// git or go runs, and nothing appears outside the data directory.
func TestInjectionRefused(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := t.TempDir()
	b := newBuilder(t, data, nil)
	marker := filepath.Join(t.TempDir(), "pwned")
	good := model.Repository{ID: "r", URI: "/srv/none"}
	commit := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		call func() error
	}{
		{"uri option", func() error {
			_, err := b.Sync(ctx, model.Repository{ID: "r", URI: "--upload-pack=touch " + marker})
			return err
		}},
		{"uri helper", func() error {
			_, err := b.Sync(ctx, model.Repository{ID: "r", URI: "ext::sh -c touch% " + marker})
			return err
		}},
		{"id traversal", func() error {
			_, err := b.Sync(ctx, model.Repository{ID: "../../escape", URI: "/srv/none"})
			return err
		}},
		{"branch option", func() error {
			_, err := b.Resolve(ctx, model.Repository{ID: "r", URI: "/srv/none", Branch: "--upload-pack=x"}, "")
			return err
		}},
		{"ref option", func() error { _, err := b.Resolve(ctx, good, "--all"); return err }},
		{"path traversal", func() error { _, err := b.Build(ctx, good, "../../../etc", commit); return err }},
		{"path option", func() error { _, err := b.Build(ctx, good, "-toolexec=touch "+marker, commit); return err }},
		{"nested option", func() error { _, err := b.Build(ctx, good, "drivers/-o", commit); return err }},
		{"commit option", func() error { _, err := b.Build(ctx, good, "drivers/x", "--help"); return err }},
		{"driver commit", func() error {
			_, err := b.EnsureDriver(ctx, good, model.Driver{Path: "d", Commit: "-x"})
			return err
		}},
	}
	for _, tt := range tests {
		err := tt.call()
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, errkind.BadRequest) {
			t.Errorf("%s: got %v, want ErrInvalid", tt.name, err)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("an injected command ran: %v", err)
	}
	if s := b.Stats(); s.Clones+s.Fetches+s.Builds != 0 {
		t.Fatalf("git or go ran: %+v", s)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(data), "escape")); !os.IsNotExist(err) {
		t.Fatalf("id escaped the data dir: %v", err)
	}
}
