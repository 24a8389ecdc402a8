package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/scaffold"
	"github.com/placeos-go/engine/version"
)

// TestDriversGuide: every Go block of DRIVERS.md compiles, passes go vet, and its tests pass, as
// an author pasting them would find. The blocks before the first package clause are edits of the
// driver `engine new driver projector` writes (§1), so they join that driver; a block that starts
// with a package clause starts a program (a package of its own). Every other block joins the
// program before it with the imports it uses added, as goimports would add them; a block with a
// Test function is a test file of it. The programs build in a module of their own requiring the
// engine's release, replaced by this checkout, with no network: a driver repository as engine
// new driver makes one.
func TestDriversGuide(t *testing.T) {
	t.Parallel()
	root, err := testutil.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "DRIVERS.md"))
	if err != nil {
		t.Fatal(err)
	}
	scaffolded, err := scaffold.Driver{Name: "projector", Transport: scaffold.TCP, Import: "example.com/guide/program0", Path: "program0"}.Files()
	if err != nil {
		t.Fatal(err)
	}
	programs := guidePrograms(t, doc, scaffolded)
	if len(programs) < 3 {
		t.Fatalf("DRIVERS.md has %d Go programs besides the scaffold's; want the device driver and the logic driver at least", len(programs)-1)
	}
	mod := t.TempDir()
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := "go 1.26"
	for line := range strings.Lines(string(goMod)) {
		if strings.HasPrefix(line, "go ") {
			goLine = strings.TrimSpace(line)
		}
	}
	testutil.WriteFile(t, filepath.Join(mod, "go.mod"), fmt.Sprintf("module example.com/guide\n\n%s\n\nrequire %s %s\n\nreplace %s => %s\n",
		goLine, version.Module, version.Tag, version.Module, root))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(mod, "go.sum"), string(sum))
	for i, files := range programs {
		for name, src := range files {
			testutil.WriteFile(t, filepath.Join(mod, fmt.Sprintf("program%d", i), filepath.FromSlash(name)), src)
		}
	}
	// -mod=mod: go.mod gets the requirements the build needs, found in the module cache (tidy
	// would look up those of the dependencies' own tests too).
	for _, args := range [][]string{{"vet", "./..."}, {"test", "-count=1", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = mod, append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s on DRIVERS.md's Go blocks (each file starts with the line of its block): %v\n%s",
				strings.Join(args, " "), err, out)
		}
		t.Logf("go %s:\n%s", strings.Join(args, " "), out)
	}
}

// guidePrograms reads the Go blocks of a Markdown document into programs (file name → source),
// the first of them first: the blocks before any package clause join it.
func guidePrograms(t *testing.T, doc []byte, first map[string][]byte) []map[string]string {
	t.Helper()
	programs := []map[string]string{{}}
	for name, src := range first {
		programs[0][name] = string(src)
	}
	pkg := "main"
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) != "```go" {
			continue
		}
		start := line + 1
		var block strings.Builder
		for sc.Scan() {
			line++
			if strings.TrimSpace(sc.Text()) == "```" {
				break
			}
			block.WriteString(sc.Text() + "\n")
		}
		src := block.String()
		if strings.HasPrefix(src, "package ") {
			pkg = strings.Fields(src)[1]
			programs = append(programs, map[string]string{})
		} else {
			src = withImports(t, start, pkg, src)
		}
		name := fmt.Sprintf("block%d.go", start)
		if strings.Contains(src, "\nfunc Test") {
			name = fmt.Sprintf("block%d_test.go", start)
		}
		programs[len(programs)-1][name] = fmt.Sprintf("// DRIVERS.md:%d\n%s", start, src)
	}
	return programs
}

// guideImports are the packages the guide's blocks may use without importing them.
var guideImports = map[string]string{
	"bytes": "bytes", "context": "context", "errors": "errors", "fmt": "fmt", "http": "net/http",
	"json": "encoding/json", "slices": "slices", "strconv": "strconv", "strings": "strings",
	"testing": "testing", "time": "time",
	"sdk": version.Module + "/sdk", "sdktest": version.Module + "/sdk/sdktest",
}

// withImports makes a block without a package clause a file of package pkg, importing what it
// uses of guideImports.
func withImports(t *testing.T, line int, pkg, block string) string {
	t.Helper()
	src := "package " + pkg + "\n\n" + block
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("DRIVERS.md:%d: %v", line, err)
	}
	var used []string
	ast.Inspect(f, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok && guideImports[id.Name] != "" && !slices.Contains(used, guideImports[id.Name]) {
				used = append(used, guideImports[id.Name])
			}
		}
		return true
	})
	slices.Sort(used)
	var imports strings.Builder
	for _, p := range used {
		fmt.Fprintf(&imports, "import %q\n", p)
	}
	out, err := format.Source([]byte("package " + pkg + "\n\n" + imports.String() + "\n" + block))
	if err != nil {
		t.Fatalf("DRIVERS.md:%d: %v", line, err)
	}
	return string(out)
}
