package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes content to p, creating its folders, and fails tb on an error.
func WriteFile(tb testing.TB, p, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
