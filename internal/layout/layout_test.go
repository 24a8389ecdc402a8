package layout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

const module = "github.com/placeos-go/engine"

// A set is a named list of package patterns, relative to the module root: "x/..." is x and every
// package below it, and "..." is every package of the module.
type set struct {
	name     string
	patterns []string
}

// pkgs is the set of the packages named, named by them.
func pkgs(patterns ...string) set { return set{strings.Join(patterns, ", "), patterns} }

// The groups. Every package of the module is in exactly one (TestGroups), so a new package joins
// the layering on purpose.
var (
	// The vocabulary and the services the engine is built from. They import only each other.
	leaves = set{"the leaves", []string{
		"errkind", "call", "auth", "httpwire", "jsonscan", "clustertls", "model", "placement", "metrics",
		"plugin/...", "state", "raftfsm", "builder", "supervisor", "subscriptions", "version", "scaffold",
		"internal/lazyq", "internal/tokens", "internal/atomicfile", "internal/proctree", "internal/addrkey", "internal/calltab", "console",
	}}
	// The engine core and the two HTTP faces of a node. They meet only in cmd/engine.
	tiers = set{"core, httpapi and peer", []string{"core", "httpapi", "peer"}}
	// The composition root: the only place that builds concrete types and wires them together.
	root = set{"cmd/...", []string{"cmd/..."}}
	// The driver side and the examples: guarded by sdk/imports_test.go, not here.
	driverSide = set{"the driver side", []string{"sdk/...", "examples/..."}}
	// Suites, test helpers and test drivers: imported from _test.go files only.
	testSupport = set{"test support", []string{
		"e2e", "scripts/...", "internal/enginetest", "internal/testutil",
		"internal/sdkdriver", "internal/testdriver", "internal/baddriver", "internal/layout", "internal/browsertest",
	}}

	groups       = []set{leaves, tiers, root, driverSide, testSupport}
	production   = set{"production code", slices.Concat(leaves.patterns, tiers.patterns, root.patterns, driverSide.patterns)}
	everyPackage = set{"any package", []string{"..."}}
)

// A rule says what the packages of a set may not import of ours: those in forbid, or any but
// those in only. An offending import is reported under the first rule it breaks.
type rule struct {
	pkgs   set
	forbid *set
	only   *set
	why    string
	fix    string
}

const fixInterface = "declare the interface you need in the importing package (as core/deps.go, " +
	"httpapi/deps.go and peer/server.go do), let the other package's type satisfy it, and wire " +
	"the two in cmd/engine"

var rules = []rule{
	{pkgs: pkgs("core"), forbid: &set{"httpapi or peer", []string{"httpapi", "peer"}}, fix: fixInterface,
		why: "core never speaks HTTP: the front doors call it through interfaces of their own, " +
			"and it reaches other nodes through Peers, which it declares (core/deps.go)"},
	{pkgs: pkgs("httpapi"), forbid: &set{"core or peer", []string{"core", "peer"}}, fix: fixInterface,
		why: "httpapi reaches the engine through the interfaces in httpapi/deps.go and mounts " +
			"peer's routes as a Routes"},
	{pkgs: pkgs("peer"), forbid: &set{"core or httpapi", []string{"core", "httpapi"}}, fix: fixInterface,
		why: "peer reaches the engine through Local and Membership (peer/server.go) and has its " +
			"routes mounted by whoever serves them"},
	{pkgs: tiers, only: &leaves, fix: fixInterface,
		why: "a node is built on the leaves alone; nothing driver-side, example or test-only " +
			"belongs in it"},
	{pkgs: leaves, only: &leaves, fix: fixInterface + " (or move the code up to where it is used)",
		why: "a leaf that imports a tier, the driver side or a test helper turns the layering " +
			"upside down, and sooner or later into a cycle"},
	{pkgs: everyPackage, forbid: &root, fix: "move what you need out of cmd/engine into a package of its own",
		why: "cmd/engine is the composition root: it imports, it is not imported (Go refuses to " +
			"import a main package; this also holds any package added below cmd/)"},
	{pkgs: production, forbid: &testSupport, fix: "import it from a _test.go file only",
		why: "suites and test helpers start processes, bind ports and write files: they stay " +
			"out of the engine, its binary and the drivers"},
}

// libraries names outside libraries that a single package of ours wraps (test support may use
// them too, to set up or inspect what the package works on).
var libraries = []struct {
	libs  []string // full import paths; "x/..." is x and below
	owner string
	why   string
}{
	{[]string{"github.com/redis/go-redis/..."}, "state",
		"state is the only package that speaks Redis (state/doc.go): its caches stay coherent " +
			"only while every write and subscription goes through it"},
	{[]string{"github.com/hashicorp/raft/...", "github.com/hashicorp/raft-boltdb/..."}, "raftfsm",
		"raftfsm owns the replicated state; everyone else reads and writes the model through " +
			"core's ModelStore and peer's Membership"},
}

// docExceptions are the packages that may do without a doc.go, and why.
var docExceptions = []struct {
	pkgs     []string
	mainOnly bool // only package main, which must still carry a package comment
	why      string
}{
	{pkgs: []string{"plugin/proto"},
		why: "generated by protoc: driver.proto documents it, and plugin/doc.go describes the wire"},
	{pkgs: []string{"examples/...", "internal/..."}, mainOnly: true,
		why: "an example or test command keeps its \"Command x\" comment in main.go, as Go " +
			"commands do; cmd/engine, the product, has a doc.go"},
}

// TestImports checks every import of every package of the module against rules and libraries,
// with one `go list -json ./...`. Only production imports count (go list's Imports, not
// TestImports): a _test.go file may reach anything. Import cycles are not checked here because Go
// refuses them: `go list` fails on one, and so does this test, before any rule is read.
func TestImports(t *testing.T) {
	t.Parallel()
	for _, p := range load(t) {
		rel := p.rel()
		for _, imp := range p.Imports {
			irel, ours := ourPath(imp)
			if !ours {
				checkLibrary(t, p, imp)
				continue
			}
			for _, r := range rules {
				if !r.pkgs.has(rel) {
					continue
				}
				var msg string
				switch {
				case r.forbid != nil && r.forbid.has(irel):
					msg = fmt.Sprintf("%s must not import %s", r.pkgs.name, r.forbid.name)
				case r.only != nil && !r.only.has(irel):
					msg = fmt.Sprintf("%s may import only %s", r.pkgs.name, r.only.name)
				default:
					continue
				}
				t.Errorf("%s imports %s (%s)\n\trule: %s: %s\n\tfix:  %s",
					rel, irel, where(p, imp), msg, r.why, r.fix)
				break
			}
		}
	}
}

func checkLibrary(t *testing.T, p *pkg, imp string) {
	t.Helper()
	rel := p.rel()
	for _, l := range libraries {
		if matchAny(imp, l.libs) && rel != l.owner && !testSupport.has(rel) {
			t.Errorf("%s imports %s (%s)\n\trule: only %s may: %s\n\tfix:  go through %s, "+
				"behind an interface declared where it is used", rel, imp, where(p, imp), l.owner, l.why, l.owner)
		}
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	list := load(t)
	for _, p := range list {
		rel := p.rel()
		var in []string
		for _, g := range groups {
			if g.has(rel) {
				in = append(in, g.name)
			}
		}
		switch len(in) {
		case 0:
			t.Errorf("%s is in no group: add it to one in internal/layout/layout_test.go, so the "+
				"import rules apply to it", rel)
		case 1:
		default:
			t.Errorf("%s is in more than one group (%s): the groups in internal/layout/layout_test.go "+
				"must not overlap", rel, strings.Join(in, ", "))
		}
	}
	// A pattern that matches nothing is a package that was renamed or removed.
	for _, g := range groups {
		for _, pat := range g.patterns {
			if !slices.ContainsFunc(list, func(p *pkg) bool { return match(p.rel(), pat) }) {
				t.Errorf("group %s names %s, which matches no package", g.name, pat)
			}
		}
	}
}

// TestDocGo keeps the rule that every package has a doc.go whose package comment says what the
// package owns.
func TestDocGo(t *testing.T) {
	t.Parallel()
	var missing []string
	for _, p := range load(t) {
		rel := p.rel()
		if slices.Contains(p.GoFiles, "doc.go") {
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, "doc.go"), nil,
				parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Errorf("%s: %v", rel, err)
			} else if f.Doc == nil {
				t.Errorf("%s/doc.go has no package comment: say what the package owns", rel)
			}
			continue
		}
		if why, mainOnly, ok := exempt(p); ok {
			if mainOnly && p.Doc == "" {
				t.Errorf("%s (package main) has no package comment: start main.go with "+
					"\"// Command %s ...\"", rel, filepath.Base(rel))
			}
			t.Logf("%s has no doc.go: %s", rel, why)
			continue
		}
		missing = append(missing, rel)
	}
	if len(missing) > 0 {
		t.Errorf("packages without a doc.go (every package has one, saying what it owns; an "+
			"exception belongs in docExceptions, with its reason):\n\t%s", strings.Join(missing, "\n\t"))
	}
}

// exempt reports whether p may do without a doc.go, why, and whether only as a command (which
// must still have a package comment).
func exempt(p *pkg) (why string, mainOnly, ok bool) {
	for _, e := range docExceptions {
		if matchAny(p.rel(), e.pkgs) && (!e.mainOnly || p.Name == "main") {
			return e.why, e.mainOnly, true
		}
	}
	return "", false, false
}

// pkg is what `go list -json` says about a package.
type pkg struct {
	ImportPath string
	Name       string
	Dir        string
	Doc        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
}

func (p *pkg) rel() string {
	rel, _ := ourPath(p.ImportPath)
	return rel
}

var loaded = sync.OnceValues(func() ([]*pkg, error) {
	root, err := testutil.ModuleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "list", "-json=ImportPath,Name,Dir,Doc,GoFiles,CgoFiles,Imports", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w\n%s", err, stderr.Bytes())
	}
	var list []*pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		list = append(list, p)
	}
	if len(list) == 0 {
		return nil, errors.New("go list found no packages")
	}
	return list, nil
})

func load(t *testing.T) []*pkg {
	t.Helper()
	list, err := loaded()
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// where names the file and line of p that import imp, relative to the module root.
func where(p *pkg, imp string) string {
	root, _ := testutil.ModuleRoot()
	var at []string
	fset := token.NewFileSet()
	for _, name := range slices.Concat(p.GoFiles, p.CgoFiles) {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, s := range f.Imports {
			if path, _ := strconv.Unquote(s.Path.Value); path == imp {
				pos := fset.Position(s.Pos())
				file, err := filepath.Rel(root, pos.Filename)
				if err != nil {
					file = pos.Filename
				}
				at = append(at, fmt.Sprintf("%s:%d", filepath.ToSlash(file), pos.Line))
			}
		}
	}
	if len(at) == 0 {
		return p.rel()
	}
	return strings.Join(at, ", ")
}

// ourPath returns an import path relative to the module root, and whether it is ours at all.
func ourPath(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	return strings.CutPrefix(path, module+"/")
}

func match(path, pattern string) bool {
	if pattern == "..." {
		return true
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func (s set) has(path string) bool { return matchAny(path, s.patterns) }

func matchAny(path string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(pattern string) bool { return match(path, pattern) })
}
