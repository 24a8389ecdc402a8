package builder

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

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
// git or go runs, by the model's rules (model/source.go, tested there), and nothing appears
// outside the data directory.
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
		if !errors.Is(err, model.ErrInvalid) || !errors.Is(err, errkind.BadRequest) {
			t.Errorf("%s: got %v, want the model's ErrInvalid", tt.name, err)
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
