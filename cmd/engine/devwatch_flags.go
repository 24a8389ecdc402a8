package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/version"
)

// watchSpec is the watched driver's module as --watch-module gives it: a module of a model file
// (docs/protocol.md §2.1) whose id, driver_id and running the watch sets, and two fields of its
// driver. Every field is optional.
type watchSpec struct {
	ModuleName string `json:"module_name,omitempty"`
	Role       string `json:"role,omitempty"`
	model.Module
}

// devFile is the file in a watched folder that describes its module when --watch-module is
// not given; `engine new driver` writes one.
const devFile = "dev.yaml"

// checkWatch reads --watch and --watch-module: the folder must be a driver's (a main package in
// a Go module), the module file one module's fields; without --watch-module, the folder's
// dev.yaml when it has one. Called by check, so that a typo stops `engine dev` before anything
// starts.
func (o *options) checkWatch() error {
	if o.Watch == "" {
		if o.WatchModule != "" {
			return errkind.Wrap(errBadFlag, nil, "--watch-module describes the module of --watch: give --watch FOLDER too")
		}
		return nil
	}
	dir, err := checkDriverFolder(o.Watch)
	if err != nil {
		return errkind.Wrap(errBadFlag, err, "--watch %s", o.Watch)
	}
	o.Watch = dir
	spec := o.WatchModule
	if spec == "" {
		if spec = filepath.Join(dir, devFile); !isFile(spec) {
			return nil
		}
	}
	data, err := os.ReadFile(spec)
	if err == nil {
		err = yaml.UnmarshalStrict(data, &o.watchSpec)
	}
	if err == nil {
		err = o.watchSpec.check()
	}
	if err != nil {
		return errkind.Wrap(errBadFlag, err, "--watch-module %s", spec)
	}
	o.WatchModule = spec
	return nil
}

// checkDriverFolder returns dir made absolute if it holds a driver: a main package inside a Go
// module. Otherwise the error says what dir is instead and, where it can, the folder meant.
func checkDriverFolder(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", errors.New("no such folder (give the folder of a driver's main package)")
	case err != nil:
		return "", err
	case !info.IsDir():
		return "", fmt.Errorf("is a file, not a folder: give the folder of a driver's main package (--watch %s?)", filepath.Dir(dir))
	}
	if _, ok := builder.ModuleRoot(abs); !ok {
		return "", fmt.Errorf("no go.mod in it or above it: a driver is a main package in a Go module requiring %s", version.Module)
	}
	if !isMainPackage(abs) {
		msg := "no main package in it: a driver is a main package calling sdk.Serve (engine new driver NAME makes one)"
		if below := driversBelow(abs); len(below) > 0 {
			// As the author would paste them: under the folder as typed.
			const show = 3
			var paths []string
			for _, rel := range below[:min(show, len(below))] {
				paths = append(paths, filepath.Join(dir, rel))
			}
			msg += "; the drivers below it: " + strings.Join(paths, ", ")
			if len(below) > show {
				msg += fmt.Sprintf(" and %d more", len(below)-show)
			}
		}
		return "", errors.New(msg)
	}
	return abs, nil
}

// isMainPackage reports whether dir has a non-test .go file of package main.
func isMainPackage(dir string) bool {
	return mainPackageFile(dir, func(*ast.File) bool { return true })
}

// isDriverPackage reports whether dir is a main package that imports the engine's SDK: what
// driversBelow lists. A main package without it (a device simulator such as examples/sims/*, a
// tool) is no driver, and listing it sent the author to --watch a simulator.
func isDriverPackage(dir string) bool {
	sdk := strconv.Quote(version.Module + "/sdk")
	return mainPackageFile(dir, func(f *ast.File) bool {
		return slices.ContainsFunc(f.Imports, func(i *ast.ImportSpec) bool { return i.Path.Value == sdk })
	})
}

// mainPackageFile reports whether dir has a non-test .go file of package main for which ok holds
// (the file parsed up to its imports).
func mainPackageFile(dir string, ok func(*ast.File) bool) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || ignoredName(filepath.Base(f)) {
			continue
		}
		if file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly); err == nil && file.Name.Name == "main" && ok(file) {
			return true
		}
	}
	return false
}

// driversBelow lists the folders at most three levels below dir holding a driver (a main package
// that imports the SDK; not simulators), relative to dir: what someone who typed a repository's
// root may have meant.
func driversBelow(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.IsDir() || p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Count(rel, string(filepath.Separator)) > 2 ||
			ignoredName(e.Name()) || e.Name() == "testdata" || e.Name() == "sim" {
			return filepath.SkipDir
		}
		if isMainPackage(p) {
			if isDriverPackage(p) {
				out = append(out, rel)
			}
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

func (s watchSpec) check() error {
	if s.ID != "" || s.DriverID != "" {
		return errors.New("id and driver_id are the watch's own (mod-watch-<folder>, drv-watch-<folder>): leave them out")
	}
	switch s.Role {
	case "", model.RoleSSH, model.RoleDevice, model.RoleService, model.RoleWebsocket, model.RoleLogic:
	default:
		return fmt.Errorf("role %q is not one of ssh, device, service, websocket, logic", s.Role)
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("port %d is out of range", s.Port)
	}
	if s.ModuleName != "" && !isName(s.ModuleName) {
		return fmt.Errorf("module_name %q: want letters and digits, starting with a letter (Projector)", s.ModuleName)
	}
	return nil
}

func isName(s string) bool {
	for i, r := range s {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || i > 0 && unicode.IsDigit(r)) {
			return false
		}
	}
	return s != ""
}

// moduleName is the module name a folder gives: its name's words capitalised and joined
// (display → Display, my-projector → MyProjector), "Driver" when nothing is left.
func moduleName(dir string) string {
	var b strings.Builder
	for _, word := range strings.FieldsFunc(filepath.Base(dir), func(r rune) bool {
		return r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		b.WriteString(strings.ToUpper(word[:1]) + word[1:])
	}
	name := strings.TrimLeftFunc(b.String(), unicode.IsDigit)
	if name == "" {
		return "Driver"
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// folderID is the folder's name as the id part of the watched driver and module.
func folderID(dir string) string {
	id := strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return '-'
		}
		return r
	}, filepath.Base(dir))
	if id = strings.Trim(id, "-"); id == "" {
		return "driver"
	}
	return id
}
