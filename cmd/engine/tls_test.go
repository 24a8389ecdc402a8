package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestTLSInitKeptPairSaysHowToReplace: a second `engine tls init` for a node keeps the pair it
// finds, so an operator bringing back a removed node (whose certificate is revoked) would get the
// old one again; the answer says that a pair is replaced by deleting it first.
func TestTLSInitKeptPairSaysHowToReplace(t *testing.T) {
	t.Parallel()
	bin := testutil.BuildBinary(t, "cmd/engine")
	dir := filepath.Join(t.TempDir(), "tls")
	run := func() string {
		out, err := exec.Command(bin, "tls", "init", "--out", dir, "--nodes", "n1").CombinedOutput()
		if err != nil {
			t.Fatalf("engine tls init: %v\n%s", err, out)
		}
		return string(out)
	}
	if first := run(); !strings.Contains(first, "wrote "+filepath.Join(dir, "n1.pem")) {
		t.Fatalf("first tls init wrote no pair for n1:\n%s", first)
	}
	again := run()
	want := "delete its <node>.pem and <node>-key.pem first"
	if strings.Contains(again, "wrote") || !strings.Contains(again, want) {
		t.Errorf("second tls init for n1 said:\n%s\nwant nothing written and a line that says %q", again, want)
	}
}
