package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type buildEntry struct {
	once sync.Once
	path string
	err  error
}

// builds holds one entry per package, so every test in one `go test` process shares one build.
var builds sync.Map

// BuildBinary builds the main package pkg (a path relative to the module root, e.g.
// "internal/testdriver") once per test process and returns the binary's absolute path.
//
// Binaries land in a stable per-user cache folder rather than t.TempDir: they outlive a single
// test (every test shares the build) and a stable path keeps repeated runs from filling /tmp.
// Each build writes a temporary file and renames it into place, so test processes of other
// packages building the same driver at the same time never see a half-written binary.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(pkg, &buildEntry{})
	e := v.(*buildEntry)
	e.once.Do(func() { e.path, e.err = build(pkg) })
	if e.err != nil {
		t.Fatalf("testutil: build %s: %v", pkg, e.err)
	}
	return e.path
}

func build(pkg string) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := binDir()
	if err != nil {
		return "", err
	}
	name := strings.ReplaceAll(strings.Trim(filepath.ToSlash(pkg), "/"), "/", "_")
	out := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("temp file: %w", err)
	}
	tmpPath := tmp.Name()
	_ = tmp.Close()
	defer func() { _ = os.Remove(tmpPath) }()

	cmd := exec.Command("go", "build", "-o", tmpPath, "./"+filepath.ToSlash(pkg))
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./%s: %w\n%s", pkg, err, output)
	}
	if err := os.Rename(tmpPath, out); err != nil {
		return "", fmt.Errorf("install binary: %w", err)
	}
	return out, nil
}

// binDir is per checkout: two checkouts testing at once (a second worktree, say) would otherwise
// overwrite each other's binaries under the same names.
func binDir() (string, error) {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(base, "placeos-go-engine", "testbin", hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("binary cache folder: %w", err)
	}
	return dir, nil
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// ModuleRoot is the folder holding this module's go.mod, found by walking up from the working
// directory (go test runs each package in its own folder).
func ModuleRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}
