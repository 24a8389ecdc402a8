package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// checkWatch reads --watch and --watch-module: the folder must be a folder inside a Go module,
// the module file one module's fields. Called by check, so that a typo stops `engine dev` before
// anything starts.
func (o *options) checkWatch() error {
	if o.Watch == "" {
		if o.WatchModule != "" {
			return errkind.Wrap(errBadFlag, nil, "--watch-module describes the module of --watch: give --watch FOLDER too")
		}
		return nil
	}
	dir, err := filepath.Abs(o.Watch)
	if err == nil {
		var info os.FileInfo
		if info, err = os.Stat(dir); err == nil && !info.IsDir() {
			err = errors.New("not a folder")
		}
	}
	if err != nil {
		return errkind.Wrap(errBadFlag, err, "--watch %s (give the folder of a driver's main package)", o.Watch)
	}
	if _, ok := builder.ModuleRoot(dir); !ok {
		return errkind.Wrap(errBadFlag, nil, "--watch %s: no go.mod in it or above it: a driver is a main package in a Go module requiring %s",
			o.Watch, version.Module)
	}
	o.Watch = dir
	if o.WatchModule == "" {
		return nil
	}
	data, err := os.ReadFile(o.WatchModule)
	if err == nil {
		err = yaml.UnmarshalStrict(data, &o.watchSpec)
	}
	if err == nil {
		err = o.watchSpec.check()
	}
	if err != nil {
		return errkind.Wrap(errBadFlag, err, "--watch-module %s", o.WatchModule)
	}
	return nil
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
