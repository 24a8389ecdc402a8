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
