package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestBuildFolder: a driver's working folder builds through the one build path (verified
// binary, sidecar) without writing anything in the folder; a save that changes nothing gives the
// same file, a change a new one beside it; a compile error carries the compiler's output; what
// is no driver folder is refused with a clear error.
func TestBuildFolder(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	repo, _ := newDriverRepo(t)
	dir := filepath.Join(repo, "drivers", "display")
	b := newBuilder(t, t.TempDir(), nil)
	goMod, goSum := testutil.ReadFile(t, filepath.Join(repo, "go.mod")), testutil.ReadFile(t, filepath.Join(repo, "go.sum"))
	before := listFiles(t, repo)

	first, err := b.BuildFolder(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkRuns(t, first, "1.0.0")
	if err := b.Verify(first); err != nil {
		t.Fatal(err)
	}
	if ok, err := b.SecureConfig(first.Path).Check(first.Path); !ok || err != nil {
		t.Fatalf("go-plugin's check of the folder's binary: %v, %v", ok, err)
	}
	if !strings.HasPrefix(filepath.Base(first.Path), "display_dev-"+first.Checksum()[:7]+"_") || first.DriverPath != dir {
		t.Fatalf("binary %s of %s: want it named after the folder and its checksum", first.Path, first.DriverPath)
	}
	if testutil.ReadFile(t, filepath.Join(repo, "go.mod")) != goMod || testutil.ReadFile(t, filepath.Join(repo, "go.sum")) != goSum {
		t.Fatal("the build wrote the folder's go.mod or go.sum")
	}
	if after := listFiles(t, repo); after != before {
		t.Fatalf("the build left files in the folder:\nbefore %s\nafter  %s", before, after)
	}

	// Saved again with no change: the same file, not replaced (a process may be running it).
	info, err := os.Stat(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.BuildFolder(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if info2, err := os.Stat(again.Path); err != nil || again.Path != first.Path || !os.SameFile(info, info2) {
		t.Fatalf("unchanged folder: %s replaced by %s (%v)", first.Path, again.Path, err)
	}

	setVersion(t, repo, "2.0.0")
	second, err := b.BuildFolder(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkRuns(t, second, "2.0.0")
	if second.Path == first.Path {
		t.Fatalf("a changed driver got the path of the old binary %s", first.Path)
	}
	checkRuns(t, first, "1.0.0") // the old binary stays until no module runs it

	testutil.WriteFile(t, filepath.Join(dir, "broken.go"), "package main\n\nfunc broken() { undefinedThing() }\n")
	_, err = b.BuildFolder(ctx, dir)
	var be *BuildError
	if !errors.As(err, &be) || !errors.Is(err, ErrBuildFailed) {
		t.Fatalf("want a BuildError, got %v", err)
	}
	if !strings.Contains(be.Output, "broken.go:3") || !strings.Contains(be.Output, "undefined: undefinedThing") ||
		!strings.HasPrefix(err.Error(), "build of "+dir+" failed") {
		t.Fatalf("compiler output missing: %v", err)
	}
	st := b.Status()
	if len(st.Builds) != 1 || st.Builds[0].State != BuildFailed || st.Builds[0].Path != dir || st.Stats.Builds != 4 {
		t.Fatalf("status after a failed folder build: %+v", st)
	}

	lib := filepath.Join(repo, "lib")
	testutil.WriteFile(t, filepath.Join(lib, "lib.go"), "package lib\n\nfunc X() {}\n")
	noModule := t.TempDir()
	testutil.WriteFile(t, filepath.Join(noModule, "main.go"), "package main\n\nfunc main() {}\n")
	for _, c := range []struct {
		dir  string
		want error
		says string
	}{
		{lib, ErrInvalid, "not a main package"},
		{noModule, ErrNoModule, "no go.mod in " + noModule},
		{filepath.Join(repo, "missing"), ErrInvalid, "is not a folder"},
	} {
		if _, err := b.BuildFolder(ctx, c.dir); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("BuildFolder(%s): %v; want %v saying %q", c.dir, err, c.want, c.says)
		}
	}
}

// TestBuildFolderOfThisCheckout: a folder of the engine's own examples builds against the
// checkout it is in (no replace), and the checkout's go.mod is left alone.
func TestBuildFolderOfThisCheckout(t *testing.T) {
	t.Parallel()
	root := engineRoot(t)
	goMod := testutil.ReadFile(t, filepath.Join(root, "go.mod"))
	b := newBuilder(t, t.TempDir(), nil)
	bin, err := b.BuildFolder(ctxT(t), filepath.Join(root, "examples", "drivers", "display"))
	if err != nil {
		t.Fatal(err)
	}
	checkRuns(t, bin, "1.0.0")
	if testutil.ReadFile(t, filepath.Join(root, "go.mod")) != goMod {
		t.Fatal("the build wrote the checkout's go.mod")
	}
}

// listFiles names every file under dir but .git's, with its size.
func listFiles(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() && info.Name() == ".git" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s:%d", rel, info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}
