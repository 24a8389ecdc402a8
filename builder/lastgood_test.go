package builder

import (
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
// used most recently; another repository's, another path's and a tampered one are passed over.
func TestLastGood(t *testing.T) {
	t.Parallel()
	b := newBuilder(t, t.TempDir(), nil)
	repo := model.Repository{ID: "repo-1"}
	if err := os.MkdirAll(b.driversDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	// place writes a binary and its sidecar as a build would, last used at.
	place := func(repoID, path, commit string, at time.Time) string {
		t.Helper()
		p := b.binPath(BinaryName(path, commit))
		content := []byte("#!/bin/sh\n# " + repoID + path + commit + "\n")
		if err := os.WriteFile(p, content, 0o700); err != nil {
			t.Fatal(err)
		}
		sc, _ := json.Marshal(sidecar{RepositoryID: repoID, Path: path, Commit: commit, SHA256: fmt.Sprintf("%x", sha256.Sum256(content))})
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

	if _, ok := b.LastGood(repo, "drivers/hello"); ok {
		t.Fatal("a last good binary with none built")
	}
	old := place("repo-1", "drivers/hello", commit(1), now.Add(-time.Hour))
	recent := place("repo-1", "drivers/hello", commit(2), now.Add(-time.Minute))
	place("repo-2", "drivers/hello", commit(3), now) // another repository
	place("repo-1", "drivers/other", commit(4), now) // another driver
	tampered := place("repo-1", "drivers/hello", commit(5), now)
	if err := os.WriteFile(tampered, []byte("changed after the build"), 0o700); err != nil {
		t.Fatal(err)
	}

	bin, ok := b.LastGood(repo, "drivers/hello")
	if !ok || bin.Path != recent || bin.Commit != commit(2) {
		t.Fatalf("last good = %+v, %v; want %s", bin, ok, recent)
	}
	// Using the older one (a pin back to its commit) makes it the last good.
	b.touch(old)
	if bin, ok := b.LastGood(repo, "drivers/hello"); !ok || bin.Path != old {
		t.Fatalf("after using the older binary: %+v, %v; want %s", bin, ok, old)
	}
}
