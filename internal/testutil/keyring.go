package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/placeos-go/engine/model"
)

// Keyring is a secrets key of the test's own (as `engine secrets init` writes one), loaded.
func Keyring(t testing.TB) *model.Keyring {
	t.Helper()
	content, err := model.NewKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := model.LoadKeyring(p)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
