package scaffold

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Summary is what to tell the author: what was written where, and the commands to run next,
// with paths relative to workDir (where the command ran) when they are below it. engine is the
// engine command as it was typed (bin/engine), for the step that runs the driver.
func (r *Result) Summary(workDir, engine string) string {
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
	var steps [][2]string
	step := func(cmd, why string) { steps = append(steps, [2]string{cmd, why}) }
	// cd first, so that engine dev's ./data/dev lands in the new repository, whose .gitignore has
	// it; the engine command then needs a path that holds from there.
	if root := show(r.Root); root != "." {
		step("cd "+root, "the module's root")
		if strings.ContainsRune(engine, filepath.Separator) && !filepath.IsAbs(engine) {
			engine = filepath.Join(workDir, engine)
		}
	}
	step("go test ./"+d.Path+"/...", "the harness tests, in virtual time")
	run := "run it in engine dev's demo room, rebuilt on every save"
	if d.Transport != Logic {
		run = "run it and its simulator in engine dev's demo room, rebuilt on every save"
	}
	step(engine+" dev --watch "+d.Path, run)
	width := 0
	for _, s := range steps {
		width = max(width, len(s[0]))
	}
	for _, s := range steps {
		fmt.Fprintf(&b, "  %-*s  # %s\n", width, s[0], s[1])
	}
	fmt.Fprintf(&b, "%s/README.md says more; %s/dev.yaml is the module engine dev runs.\n", show(r.Dir), show(r.Dir))
	return b.String()
}
