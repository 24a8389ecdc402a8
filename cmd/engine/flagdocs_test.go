package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestServeFlagsDocumented: every flag of `engine serve` is in deploy/engine.env.example (its
// ENGINE_ variable, set or commented out), in the README's flags table and in docs/protocol.md
// §1.2 (flag and variable); and those name no flag that does not exist. A flag added to
// flagSet without its documentation fails here.
func TestServeFlagsDocumented(t *testing.T) {
	t.Parallel()
	read := func(rel string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	envFile := read("deploy/engine.env.example")
	readme := flagRows(read("README.md"))
	protocol := flagRows(read("docs/protocol.md"))
	if readme == "" || protocol == "" {
		t.Fatal("no flags table found in README.md or docs/protocol.md (rows starting with | `--)")
	}

	var serveFlags []string
	(&options{}).flagSet("serve", false).VisitAll(func(f *flag.Flag) {
		serveFlags = append(serveFlags, f.Name)
		env := envName(f.Name)
		if !regexp.MustCompile(`(?m)^#?` + env + `=`).MatchString(envFile) {
			t.Errorf("--%s: deploy/engine.env.example has no %s= line (set or commented out with its default)", f.Name, env)
		}
		if !strings.Contains(readme, "`--"+f.Name+"`") && !strings.Contains(readme, "`--"+f.Name+" ") {
			t.Errorf("--%s: not in the README's flags table", f.Name)
		}
		if !strings.Contains(protocol, "`--"+f.Name+"`") || !strings.Contains(protocol, "`"+env+"`") {
			t.Errorf("--%s: not in docs/protocol.md §1.2 with %s", f.Name, env)
		}
	})

	// The other way round: nothing documented that is no flag (dev's own flags and the client
	// commands' variables aside).
	known := map[string]bool{}
	for _, name := range serveFlags {
		known[name] = true
	}
	(&options{}).flagSet("dev", true).VisitAll(func(f *flag.Flag) { known[f.Name] = true })
	newFS, _ := newFlags() // the README's table of engine new driver (TestNewFlagsDocumented)
	newFS.VisitAll(func(f *flag.Flag) { known[f.Name] = true })
	// Every value shown, set or commented out, is one the flag takes.
	values := (&options{}).flagSet("serve", false)
	for _, m := range regexp.MustCompile(`(?m)^#?(ENGINE_[A-Z0-9_]+)=(.*)$`).FindAllStringSubmatch(envFile, -1) {
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(m[1], "ENGINE_"), "_", "-"))
		if m[1] == "ENGINE_SERVER" || m[1] == "ENGINE_API_KEY" {
			continue
		}
		f := values.Lookup(name)
		if f == nil {
			t.Errorf("deploy/engine.env.example sets %s, which is no flag of engine serve", m[1])
			continue
		}
		if err := f.Value.Set(m[2]); err != nil {
			t.Errorf("deploy/engine.env.example: %s=%s does not parse: %v", m[1], m[2], err)
		}
	}
	for doc, rows := range map[string]string{"README.md": readme, "docs/protocol.md": protocol} {
		for _, m := range regexp.MustCompile("`--([a-z0-9-]+)").FindAllStringSubmatch(rows, -1) {
			if !known[m[1]] {
				t.Errorf("%s's flags table names --%s, which is no flag of engine serve or dev", doc, m[1])
			}
		}
	}
}

// TestNewFlagsDocumented: every flag of `engine new driver` is in the README's table of it, in
// docs/protocol.md §1.10 and in the usage line, and that table names no other flag.
func TestNewFlagsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	protocol, err := os.ReadFile(filepath.Join("..", "..", "docs", "protocol.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "### A new driver: `engine new driver NAME`")
	section, _, _ := strings.Cut(table, "\n## ")
	_, p10, ok10 := strings.Cut(string(protocol), "### 1.10 `engine new driver`")
	p10, _, _ = strings.Cut(p10, "\n## ")
	if !ok || !ok10 {
		t.Fatal("README.md has no section \"### A new driver: `engine new driver NAME`\", or docs/protocol.md no §1.10")
	}
	fs, _ := newFlags()
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		names[f.Name] = true
		if !strings.Contains(section, "| `--"+f.Name+"` |") {
			t.Errorf("--%s: not in the README's table of engine new driver", f.Name)
		}
		if !strings.Contains(p10, "`--"+f.Name) {
			t.Errorf("--%s: not in docs/protocol.md §1.10", f.Name)
		}
		if !strings.Contains(newUsage, "--"+f.Name+" ") {
			t.Errorf("--%s: not in the usage line %q", f.Name, newUsage)
		}
	})
	for _, m := range regexp.MustCompile("(?m)^\\| `--([a-z0-9-]+)`").FindAllStringSubmatch(section, -1) {
		if !names[m[1]] {
			t.Errorf("the README's table of engine new driver names --%s, which is no flag of it", m[1])
		}
	}
}

// flagRows is the first two cells (the flags, then their variables or defaults) of every table
// row of a markdown document that starts with a flag.
func flagRows(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `--") {
			cells := strings.SplitN(line, "|", 4)
			if len(cells) == 4 {
				b.WriteString(cells[1] + "|" + cells[2] + "\n")
			}
		}
	}
	return b.String()
}
