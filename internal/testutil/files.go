package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to p, making its folders, as an editor saving a file would; it fails
// tb on any error.
func WriteFile(tb testing.TB, p, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// ReadFile is the content of p; it fails tb on any error.
func ReadFile(tb testing.TB, p string) string {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// WriteScript writes a shell script to p and makes it executable: a stand-in for a driver or a
// tool that misbehaves in one precise way. It fails tb on any error.
func WriteScript(tb testing.TB, p, script string) {
	tb.Helper()
	WriteFile(tb, p, "#!/bin/sh\n"+script)
	if err := os.Chmod(p, 0o755); err != nil {
		tb.Fatal(err)
	}
}
