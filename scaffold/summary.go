package scaffold

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Summary is what to tell the author: what was written where, and the commands to run next,
// with paths relative to workDir (where the command ran) when they are below it.
func (r *Result) Summary(workDir string) string {
	show := func(p string) string {
		if rel, err := filepath.Rel(workDir, p); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
		return p
	}
	d := r.Driver
	var b strings.Builder
	fmt.Fprintf(&b, "the %s driver (%s) in %s: %s, module %s", d.Name, transportInfo[d.Transport].Title, show(r.Dir), r.Mode, r.Module)
	if r.Commit != "" {
		fmt.Fprintf(&b, ", first commit %s", r.Commit)
	}
	b.WriteString(":\n")
	for _, f := range r.Files {
		fmt.Fprintf(&b, "  %s\n", show(filepath.Join(r.Root, filepath.FromSlash(f))))
	}
	b.WriteString("\nnext:\n")
	step := func(cmd, why string) { fmt.Fprintf(&b, "  %-44s # %s\n", cmd, why) }
	if root := show(r.Root); root != "." {
		step("cd "+root, "the module's root")
	}
	step("go test ./"+d.Path+"/...", "the harness tests, in virtual time")
	if d.Transport != Logic {
		step("go run ./"+d.Path+"/sim", "the simulated "+d.Name+" on "+transportInfo[d.Transport].SimAddr)
	}
	step("go run ./"+d.Path+" --metadata", "what the engine sees of the driver")
	fmt.Fprintf(&b, "%s/README.md says how to run it in a room with engine dev.\n", show(r.Dir))
	return b.String()
}
