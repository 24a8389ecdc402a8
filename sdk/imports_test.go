package sdk_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoHostImports keeps driver binaries small. A driver links sdk (with sdk/internal/...) and
// the wire packages plugin, plugin/proto and plugin/metadata, which the host imports as well;
// none of them may pull in the engine's host side. The engine packages each may use are listed,
// so a new dependency is added here on purpose rather than by accident.
func TestNoHostImports(t *testing.T) {
	t.Parallel()
	const module = "github.com/placeos-go/engine/"
	for _, c := range []struct {
		pattern string
		engine  []string // engine packages (and those below them) it may depend on
		stdOnly bool     // no third-party packages either
	}{
		{pattern: "sdk/...", engine: []string{"sdk", "plugin", "errkind", "jsonscan", "version", "internal/calltab"}},
		{pattern: "plugin/...", engine: []string{"plugin", "errkind", "internal/calltab"}},
		{pattern: "plugin/metadata", engine: []string{"plugin/metadata", "errkind"}, stdOnly: true},
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+c.pattern).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ours := strings.CutPrefix(dep, module)
			switch {
			case ours && !within(rel, c.engine):
				t.Errorf("%s depends on %s", c.pattern, dep)
			case !ours && c.stdOnly:
				t.Errorf("%s depends on %s, outside the standard library", c.pattern, dep)
			case strings.Contains(dep, "go-redis") || strings.Contains(dep, "hashicorp/raft"):
				t.Errorf("%s depends on %s", c.pattern, dep)
			}
		}
	}
}

func within(pkg string, roots []string) bool {
	for _, r := range roots {
		if pkg == r || strings.HasPrefix(pkg, r+"/") {
			return true
		}
	}
	return false
}
