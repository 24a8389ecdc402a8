package version

import (
	"regexp"
	"testing"
)

// TestTagIsAModuleVersion: a driver repository can require only a tag Go reads as a version of
// this module path. v2 and above would need the path to end in /v2 (Go's import compatibility
// rule), so the engine stays below v2 or changes its module path with the major version.
func TestTagIsAModuleVersion(t *testing.T) {
	t.Parallel()
	if !regexp.MustCompile(`^v[01]\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`).MatchString(Tag) {
		t.Fatalf("Tag %q is not a v0.x.y or v1.x.y module version of github.com/placeos-go/engine", Tag)
	}
}
