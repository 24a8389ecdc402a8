package builder

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestCloneBuildUpgradeRestart follows a driver through its life on one node: clone and build
// (shared by concurrent callers), run the binary, a new commit fetched and built beside the old
// binary, a pinned commit fetched on demand, a restart that reuses everything, and cleanup.
func TestCloneBuildUpgradeRestart(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	src, first := newDriverRepo(t)
	repo := repoOf("acme", src)
	data := t.TempDir()
	b := newBuilder(t, data, nil)

	// Three callers, one clone, one build.
	var wg sync.WaitGroup
	bins := make([]Binary, 3)
	errs := make([]error, 3)
	for i := range bins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bins[i], errs[i] = b.EnsureDriver(ctx, repo, model.Driver{Path: "drivers/display"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if s := b.Stats(); s.Clones != 1 || s.Builds != 1 {
		t.Fatalf("want 1 clone and 1 build for 3 callers, got %+v", s)
	}
	v1 := bins[0]
	if v1.Commit != first || bins[1].Path != v1.Path || bins[2].Path != v1.Path {
		t.Fatalf("callers got different binaries: %+v", bins)
	}
	if want := filepath.Join(data, "drivers", BinaryName("drivers/display", first)); v1.Path != want {
		t.Fatalf("binary at %s, want %s", v1.Path, want)
	}
	if !strings.Contains(filepath.Base(v1.Path), "drivers+display_"+first[:7]+"_") {
		t.Fatalf("binary name %s", filepath.Base(v1.Path))
	}
	checkRuns(t, v1, "1.0.0")
	if err := b.Verify(v1); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.SecureConfig(v1.Path).Check(v1.Path); !ok || err != nil {
		t.Fatalf("SecureConfig refuses a good binary: %v %v", ok, err)
	}
	if _, err := os.Stat(filepath.Join(data, "repositories", "acme", "HEAD")); err != nil {
		t.Fatalf("no clone under repositories/: %v", err)
	}

	// A new commit: pull, resolve the head, build it beside the old binary.
	second := setVersion(t, src, "2.0.0")
	st, err := b.Sync(ctx, repo)
	if err != nil {
		t.Fatal(err)
	}
	if st.Head != second || st.State != StateReady || st.Branch != "main" {
		t.Fatalf("after pull: %+v, want head %s", st, second)
	}
	v2, err := b.EnsureDriver(ctx, repo, model.Driver{Path: "drivers/display"})
	if err != nil {
		t.Fatal(err)
	}
	if v2.Commit != second || v2.Path == v1.Path {
		t.Fatalf("new commit built to %s (%s), old %s", v2.Path, v2.Commit, v1.Path)
	}
	checkRuns(t, v2, "2.0.0")
	checkRuns(t, v1, "1.0.0") // the old binary stays for the process still serving

	// A driver pinned to a commit the clone has not fetched yet: resolved by fetching.
	third := setVersion(t, src, "3.0.0")
	v3, err := b.EnsureDriver(ctx, repo, model.Driver{Path: "drivers/display", Commit: third[:10]})
	if err != nil {
		t.Fatal(err)
	}
	if v3.Commit != third {
		t.Fatalf("pinned short commit resolved to %s, want %s", v3.Commit, third)
	}
	if s := b.Stats(); s.Clones != 1 || s.Builds != 3 {
		t.Fatalf("stats %+v", s)
	}
	// Clone (fetched twice since), binaries and sidecars are the engine's user's alone, whatever
	// the umask of this test (go-git makes packs 0444 past any umask). What the go tool writes
	// itself under builds/ (telemetry in its HOME) follows the umask, which the engine sets to
	// 077 (cmd/engine's tests check the whole data directory after a real run).
	assertPrivate(t, filepath.Join(data, "repositories"))
	assertPrivate(t, filepath.Join(data, "drivers"))
	if fi, err := os.Stat(v3.Path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("binary %v %v, want 0700", fi.Mode(), err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: the clone and the binaries are found, nothing is cloned or built.
	b2 := newBuilder(t, data, nil)
	for _, want := range []Binary{v1, v2} {
		got, err := b2.Build(ctx, repo, "drivers/display", want.Commit)
		if err != nil {
			t.Fatal(err)
		}
		if got.Path != want.Path || got.Checksum() != want.Checksum() {
			t.Fatalf("after restart got %+v, want %+v", got, want)
		}
	}
	head, err := b2.Resolve(ctx, repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if head != third {
		t.Fatalf("branch head after restart %s, want %s", head, third)
	}
	if s := b2.Stats(); s.Clones != 0 || s.Builds != 0 || s.CacheHits != 2 {
		t.Fatalf("restart should reuse clone and binaries: %+v", s)
	}

	// Cleanup removes what is unused, keeps what is in use.
	removed, err := b2.Cleanup(0, func(p string) bool { return p == v3.Path })
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 2 {
		t.Fatalf("removed %v, want the two unused binaries", removed)
	}
	if _, err := os.Stat(v3.Path); err != nil {
		t.Fatalf("in-use binary removed: %v", err)
	}
	if _, err := os.Stat(v1.Path); !os.IsNotExist(err) {
		t.Fatalf("unused binary kept: %v", err)
	}
}

func checkRuns(t *testing.T, bin Binary, version string) {
	t.Helper()
	var md struct {
		Functions map[string]json.RawMessage `json:"functions"`
		Versions  map[string]string          `json:"versions"`
	}
	out := metadata(t, bin.Path)
	if err := json.Unmarshal([]byte(out), &md); err != nil {
		t.Fatalf("metadata of %s: %v\n%s", bin.Path, err, out)
	}
	if md.Functions["power"] == nil || md.Versions["driver"] != version {
		t.Fatalf("metadata of %s: want power() and version %s, got %s", bin.Path, version, out)
	}
}

// TestCompileErrorAndTamper: a broken driver reports the compiler's output and does not spoil
// the repository for other drivers; a tampered binary is refused and rebuilt.
func TestCompileErrorAndTamper(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	src, _ := newDriverRepo(t)
	testutil.WriteFile(t, filepath.Join(src, "drivers", "broken", "main.go"),
		"package main\n\nfunc main() { undefinedThing() }\n")
	head := commitAll(t, src, "broken driver")
	repo := repoOf("mixed", src)
	b := newBuilder(t, t.TempDir(), nil)

	_, err := b.Build(ctx, repo, "drivers/broken", head)
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("want a BuildError, got %v", err)
	}
	if !errors.Is(err, ErrBuildFailed) || !errors.Is(err, errkind.BadRequest) {
		t.Fatalf("build error has the wrong kind: %v", err)
	}
	if !strings.Contains(be.Output, "undefined: undefinedThing") || !strings.Contains(be.Output, "main.go:3") {
		t.Fatalf("compiler output missing: %q", be.Output)
	}
	bs, ok := b.BuildStatus("drivers/broken", head)
	if !ok || bs.State != BuildFailed || !strings.Contains(bs.Output, "undefinedThing") {
		t.Fatalf("status of failed build: %+v", bs)
	}
	// The failure is remembered: no second compile of the same commit.
	if _, err := b.Build(ctx, repo, "drivers/broken", head); !errors.As(err, &be) {
		t.Fatalf("second build: %v", err)
	}
	if s := b.Stats(); s.Builds != 1 || s.BuildFailures != 1 {
		t.Fatalf("stats %+v", s)
	}

	// The same repository still builds its good driver.
	good, err := b.Build(ctx, repo, "drivers/display", head[:7])
	if err != nil {
		t.Fatal(err)
	}
	checkRuns(t, good, "1.0.0")

	// Tamper: append a byte. Verify and go-plugin's check refuse it; Build rebuilds it.
	f, err := os.OpenFile(good.Path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(good); !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Verify of a tampered binary: %v", err)
	}
	if ok, err := b.SecureConfig(good.Path).Check(good.Path); ok || err != nil {
		t.Fatalf("SecureConfig check of a tampered binary: %v, %v; want a mismatch", ok, err)
	}
	again, err := b.Build(ctx, repo, "drivers/display", head)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(again); err != nil {
		t.Fatalf("rebuilt binary: %v", err)
	}
	if s := b.Stats(); s.Builds != 3 {
		t.Fatalf("tampered binary not rebuilt: %+v", s)
	}

	// A binary of ours without its record is refused, a foreign one is not checked.
	if err := os.Remove(again.Path + ".json"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SecureConfig(again.Path).Check(again.Path); !errors.Is(err, goplugin.ErrSecureConfigNoChecksum) {
		t.Fatalf("binary without sidecar: %v", err)
	}
	if sc := b.SecureConfig("/usr/bin/true"); sc != nil {
		t.Fatalf("foreign binary got %+v", sc)
	}
	_ = sha256.Size
}
