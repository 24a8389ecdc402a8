package builder

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/model"
)

// TestLastGood: the last good binary of a driver is the verified one of that repository and path
// that this driver used most recently; another repository's, another path's, another driver's, a
// tampered one and one whose sidecar names no driver (an older engine's) are passed over.
func TestLastGood(t *testing.T) {
	t.Parallel()
	b := newBuilder(t, t.TempDir(), nil)
	repo := model.Repository{ID: "repo-1"}
	if err := os.MkdirAll(b.driversDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	// place writes a binary and its sidecar as a build would, used by drivers, last at.
	place := func(repoID, path, commit string, at time.Time, drivers ...string) string {
		t.Helper()
		p := b.binPath(BinaryName(path, commit))
		content := []byte("#!/bin/sh\n# " + repoID + path + commit + "\n")
		if err := os.WriteFile(p, content, 0o700); err != nil {
			t.Fatal(err)
		}
		sc, _ := json.Marshal(sidecar{RepositoryID: repoID, Path: path, Commit: commit,
			SHA256: fmt.Sprintf("%x", sha256.Sum256(content)), Drivers: drivers})
		if err := os.WriteFile(p+".json", sc, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p+".json", at, at); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	commit := func(c byte) string { return strings.Repeat(fmt.Sprintf("%x", c), 40) } // distinct in 7 digits

	if _, ok := b.LastGood(repo, "drivers/hello", "drv-1"); ok {
		t.Fatal("a last good binary with none built")
	}
	old := place("repo-1", "drivers/hello", commit(1), now.Add(-time.Hour), "drv-1")
	recent := place("repo-1", "drivers/hello", commit(2), now.Add(-time.Minute), "drv-1", "drv-2")
	place("repo-2", "drivers/hello", commit(3), now, "drv-1") // another repository
	place("repo-1", "drivers/other", commit(4), now, "drv-1") // another path
	place("repo-1", "drivers/hello", commit(6), now, "drv-3") // another driver's
	place("repo-1", "drivers/hello", commit(7), now)          // an older engine's sidecar: no driver ids
	tampered := place("repo-1", "drivers/hello", commit(5), now, "drv-1")
	if err := os.WriteFile(tampered, []byte("changed after the build"), 0o700); err != nil {
		t.Fatal(err)
	}

	bin, ok := b.LastGood(repo, "drivers/hello", "drv-1")
	if !ok || bin.Path != recent || bin.Commit != commit(2) {
		t.Fatalf("last good = %+v, %v; want %s", bin, ok, recent)
	}
	// Using the older one (a pin back to its commit) makes it the last good.
	b.touch(old)
	if bin, ok := b.LastGood(repo, "drivers/hello", "drv-1"); !ok || bin.Path != old {
		t.Fatalf("after using the older binary: %+v, %v; want %s", bin, ok, old)
	}
	// drv-2 used only the recent one, though the older is newer now.
	if bin, ok := b.LastGood(repo, "drivers/hello", "drv-2"); !ok || bin.Path != recent {
		t.Fatalf("drv-2's last good = %+v, %v; want %s", bin, ok, recent)
	}
	// A driver that never ran a binary of the path has none, however many others have.
	if bin, ok := b.LastGood(repo, "drivers/hello", "drv-new"); ok {
		t.Fatalf("a driver that never ran one has last good %s", bin.Path)
	}
}

// TestLastGoodIsTheDriversOwnBuild builds real commits of a real repository: two drivers on the
// same path, one pinned to a commit that is not in the repository, never fall back to each
// other's binary; a driver falls back only to what it was handed itself; and the recorded driver
// ids leave the sidecar readable by an engine that does not know them.
func TestLastGoodIsTheDriversOwnBuild(t *testing.T) {
	t.Parallel()
	dir, first := newDriverRepo(t)
	second := setVersion(t, dir, "2.0.0")
	b := newBuilder(t, t.TempDir(), nil)
	repo := repoOf("repo-1", dir)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const path = "drivers/display"

	pinned, err := b.EnsureDriver(ctx, repo, model.Driver{ID: "drv-pinned", Path: path, Commit: first[:7]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnsureDriver(ctx, repo, model.Driver{ID: "drv-missing", Path: path, Commit: "deadbee"}); err == nil {
		t.Fatal("a commit not in the repository built")
	}
	if bin, ok := b.LastGood(repo, path, "drv-missing"); ok {
		t.Fatalf("the driver pinned to a missing commit falls back to %s (commit %.7s), another driver's build", bin.Path, bin.Commit)
	}
	if bin, ok := b.LastGood(repo, path, "drv-pinned"); !ok || bin.Path != pinned.Path {
		t.Fatalf("drv-pinned's last good = %+v, %v; want %s", bin, ok, pinned.Path)
	}

	// drv-pinned moves to the second commit: that is its last good now, not drv-other's, which
	// shares the first binary and never ran the second.
	if _, err := b.EnsureDriver(ctx, repo, model.Driver{ID: "drv-other", Path: path, Commit: first}); err != nil {
		t.Fatal(err)
	}
	moved, err := b.EnsureDriver(ctx, repo, model.Driver{ID: "drv-pinned", Path: path, Commit: second})
	if err != nil {
		t.Fatal(err)
	}
	if bin, ok := b.LastGood(repo, path, "drv-pinned"); !ok || bin.Path != moved.Path {
		t.Fatalf("drv-pinned's last good after the move = %+v, %v; want %s", bin, ok, moved.Path)
	}
	if bin, ok := b.LastGood(repo, path, "drv-other"); !ok || bin.Path != pinned.Path {
		t.Fatalf("drv-other's last good = %+v, %v; want %s", bin, ok, pinned.Path)
	}

	// The rewritten sidecar: its checksum intact (the binary still launches), and readable by
	// the previous version's sidecar type, which has no driver ids.
	if sc := b.SecureConfig(pinned.Path); sc == nil || len(sc.Checksum) != sha256.Size {
		t.Fatalf("secure config of a binary whose sidecar records drivers: %+v", sc)
	}
	data, err := os.ReadFile(pinned.Path + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var previous struct {
		RepositoryID string `json:"repository_id"`
		Path         string `json:"path"`
		Commit       string `json:"commit"`
		SHA256       string `json:"sha256"`
	}
	if err := json.Unmarshal(data, &previous); err != nil || previous.Commit != first || previous.SHA256 != pinned.Checksum() {
		t.Fatalf("the previous version reads the sidecar as %+v (%v):\n%s", previous, err, data)
	}
	if !strings.Contains(string(data), `"drv-pinned"`) || !strings.Contains(string(data), `"drv-other"`) {
		t.Fatalf("sidecar does not name the drivers that used the binary:\n%s", data)
	}
}
