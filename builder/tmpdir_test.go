package builder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
)

// The go command's temp folders a build killed with the engine left in builds/tmp are gone once
// the builder starts again, with a DEBUG line naming them; nothing else there is touched, nothing
// a symlink leads to is, and a builds/tmp that is a symlink is not swept.
func TestStartSweepsBuildTemp(t *testing.T) {
	t.Parallel()
	dataDir, outside := t.TempDir(), t.TempDir()
	tmp := filepath.Join(dataDir, "builds", "tmp")
	testutil.WriteFile(t, filepath.Join(tmp, "go-build384315807", "b001", "_pkg_.a"), "partial")
	testutil.WriteFile(t, filepath.Join(tmp, "go-link-1234", "go.o"), "partial")
	testutil.WriteFile(t, filepath.Join(tmp, "notes.txt"), "not the go command's")
	// A go-build folder holding a link out, and a link named like one: what they lead to stays.
	testutil.WriteFile(t, filepath.Join(outside, "keep", "file"), "outside")
	testutil.WriteFile(t, filepath.Join(tmp, "go-build1", "b001", "x"), "partial")
	if err := os.Symlink(filepath.Join(outside, "keep"), filepath.Join(tmp, "go-build1", "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "keep"), filepath.Join(tmp, "go-build2")); err != nil {
		t.Fatal(err)
	}

	logs := &testutil.LockedBuffer{}
	newBare(t, dataDir, logs)

	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range left {
		names = append(names, e.Name())
	}
	if want := []string{"go-build2", "notes.txt"}; !slices.Equal(names, want) {
		t.Errorf("builds/tmp after start: %v, want %v", names, want)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep", "file")); err != nil {
		t.Errorf("a file a symlink in builds/tmp leads to: %v", err)
	}
	lines := logs.Entries("@message", "removed the temp folders of builds a previous engine left")
	if len(lines) != 1 || lines[0]["@level"] != "debug" || len(lines[0]["removed"].([]any)) != 3 {
		t.Errorf("log of the sweep: %v, want one DEBUG line naming the 3 folders", lines)
	}

	// builds/tmp itself a symlink: what it leads to is not swept.
	dataDir2, elsewhere := t.TempDir(), t.TempDir()
	testutil.WriteFile(t, filepath.Join(elsewhere, "go-build55", "x"), "someone else's")
	testutil.WriteFile(t, filepath.Join(dataDir2, "builds", "home", "x"), "")
	if err := os.Symlink(elsewhere, filepath.Join(dataDir2, "builds", "tmp")); err != nil {
		t.Fatal(err)
	}
	newBare(t, dataDir2, &testutil.LockedBuffer{})
	if _, err := os.Stat(filepath.Join(elsewhere, "go-build55", "x")); err != nil {
		t.Errorf("a go-build folder a symlinked builds/tmp leads to: %v", err)
	}
}

// newBare starts and closes a builder on dataDir with no repository, logging to logs.
func newBare(t *testing.T, dataDir string, logs *testutil.LockedBuffer) {
	t.Helper()
	b, err := New(Config{DataDir: dataDir, GOPROXY: "off", GOCACHE: t.TempDir(), GOMODCACHE: t.TempDir(),
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, JSONFormat: true, Level: hclog.Debug})})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
