package scaffold

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/placeos-go/engine/version"
)

// Mode says where a driver goes.
type Mode int

const (
	// InEngine is the engine's own checkout: examples/drivers/NAME, in the engine module.
	InEngine Mode = iota
	// InDriverRepo is a module that requires the engine: drivers/NAME, in that module.
	InDriverRepo
	// NewRepo is a new driver repository, NAME/ holding drivers/NAME.
	NewRepo
)

func (m Mode) String() string {
	return [...]string{"the engine checkout", "a driver repository", "a new driver repository"}[m]
}

// Options of New.
type Options struct {
	Name      string
	Transport Transport
	// WorkDir is where the command runs: it decides the mode when Dir is empty, and a relative
	// Dir is read against it.
	WorkDir string
	// Dir is the driver's folder inside a module that has the engine, or else the new
	// repository's; empty: chosen by mode (examples/drivers/NAME, drivers/NAME, ./NAME).
	Dir string
	// Module is a new repository's module path; empty: example.com/NAME.
	Module string
	// EngineTag is the engine release a new repository requires (version.Tag).
	EngineTag string
	// EngineSource is the engine source a new repository's replace points at, and whose go.sum
	// and go directive it starts from; empty: no replace.
	EngineSource string
	// Env is the environment of the go and git commands New runs; nil: this process's.
	Env []string
}

// Plan is where New writes.
type Plan struct {
	Mode   Mode
	Root   string // the module's root folder (a new repository's own)
	Module string // its module path
	Dir    string // the driver's folder
	Driver Driver
}

// MakePlan decides where the driver goes and checks that it can: a valid name and transport, a
// folder that does not exist or is empty, a path Go can import.
func MakePlan(o Options) (*Plan, error) {
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	t, err := ParseTransport(string(o.Transport))
	if err != nil {
		return nil, err
	}
	work, err := filepath.Abs(o.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	target := ""
	if o.Dir != "" {
		target = o.Dir
		if !filepath.IsAbs(target) {
			target = filepath.Join(work, target)
		}
		target = filepath.Clean(target)
	}
	// The module a driver would join: the one around the target's parent, or around the
	// working directory when there is no target.
	around := work
	if target != "" {
		around = filepath.Dir(target)
	}
	mod, err := findModule(around)
	if err != nil {
		return nil, err
	}
	p := &Plan{}
	switch {
	case mod != nil && mod.path == version.Module:
		p.Mode, p.Root, p.Module, p.Dir = InEngine, mod.root, mod.path, filepath.Join(mod.root, "examples", "drivers", o.Name)
	case mod != nil && mod.requiresEngine:
		p.Mode, p.Root, p.Module, p.Dir = InDriverRepo, mod.root, mod.path, filepath.Join(mod.root, "drivers", o.Name)
	default:
		p.Mode, p.Root = NewRepo, filepath.Join(work, o.Name)
		if target != "" {
			p.Root = target
		}
		p.Dir = filepath.Join(p.Root, "drivers", o.Name)
		p.Module = o.Module
		if p.Module == "" {
			p.Module = "example.com/" + o.Name
		}
		if err := checkModulePath(p.Module); err != nil {
			return nil, err
		}
	}
	if p.Mode != NewRepo {
		if o.Module != "" {
			return nil, invalid("--module names a new repository's module, but the driver goes into %s (module %s, %s)", p.Mode, p.Module, p.Root)
		}
		if target != "" {
			p.Dir = target
		}
	}
	if err := checkEmpty(p.topDir()); err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(p.Root, p.Dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil, invalid("the driver's folder %s must be inside its module's root %s", p.Dir, p.Root)
	}
	rel = filepath.ToSlash(rel)
	if err := checkImportPath(rel); err != nil {
		return nil, fmt.Errorf("the driver's folder %s: %w", p.Dir, err)
	}
	p.Driver = Driver{Name: o.Name, Transport: t, Import: p.Module + "/" + rel, Path: rel}
	return p, nil
}

// topDir is the folder New creates: the repository, or the driver's folder in a module.
func (p *Plan) topDir() string {
	if p.Mode == NewRepo {
		return p.Root
	}
	return p.Dir
}

// checkEmpty refuses to write into anything but a folder that does not exist yet or is empty.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return invalid("%s exists and is not a folder: choose another name or --dir", dir)
		}
		return fmt.Errorf("read %s: %w", dir, err)
	case len(entries) > 0:
		return invalid("%s exists and is not empty: choose another name or --dir", dir)
	}
	return nil
}

var (
	importElemRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.~+-]*$`)
	moduleRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*(/[A-Za-z0-9][A-Za-z0-9_.~+-]*)*$`)
)

// checkImportPath refuses a folder path that Go cannot import (or skips: testdata, _x, .x).
func checkImportPath(rel string) error {
	for _, e := range strings.Split(rel, "/") {
		if !importElemRE.MatchString(e) || e == "testdata" || e == "vendor" {
			return invalid("%q cannot be part of a Go import path: use letters, digits and -._~+", e)
		}
	}
	return nil
}

// checkModulePath accepts the module paths people use (github.com/me/drivers, example.com/x,
// drivers); the go command checks the finer rules.
func checkModulePath(m string) error {
	if !moduleRE.MatchString(m) || strings.Contains(m, "..") {
		return invalid("module path %q: want something like github.com/you/drivers (lower-case host, then path elements of letters, digits and -._~+)", m)
	}
	return nil
}

// goModule is what New needs of a go.mod.
type goModule struct {
	root, path     string
	goVersion      string
	requiresEngine bool
	requires       []string // "path version" of every requirement
}

// findModule is the Go module dir is in (the nearest go.mod at or above it); nil if none.
func findModule(dir string) (*goModule, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			m := parseGoMod(data)
			m.root = d
			if m.path == "" {
				return nil, fmt.Errorf("%s has no module line", filepath.Join(d, "go.mod"))
			}
			return m, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read go.mod: %w", err)
		}
		if filepath.Dir(d) == d {
			return nil, nil
		}
	}
}

func (m *goModule) require(path, v string) {
	m.requires = append(m.requires, path+" "+v)
	if path == version.Module {
		m.requiresEngine = true
	}
}

// parseGoMod reads the module path, the go directive and the requirements, line by line: enough
// for go.mod files the go command wrote.
func parseGoMod(data []byte) *goModule {
	m := &goModule{}
	inRequire := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "//")
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case inRequire && f[0] == ")":
			inRequire = false
		case f[0] == "module" && len(f) == 2:
			m.path = strings.Trim(f[1], `"`)
		case f[0] == "go" && len(f) == 2:
			m.goVersion = f[1]
		case f[0] == "require" && len(f) == 2 && f[1] == "(":
			inRequire = true
		case f[0] == "require" && len(f) >= 3:
			m.require(f[1], f[2])
		case inRequire && len(f) >= 2:
			m.require(f[0], f[1])
		}
	}
	return m
}
