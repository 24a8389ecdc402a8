package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/hashicorp/go-hclog"
	"sigs.k8s.io/yaml"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/raftfsm"
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
		return errkind.Wrap(errBadFlag, nil, "--watch %s: %v: give the folder of a driver's main package", o.Watch, err)
	}
	if _, ok := builder.ModuleRoot(dir); !ok {
		return errkind.Wrap(errBadFlag, nil, "--watch %s: no go.mod in it or above it: a driver is a main package in a Go module requiring %s",
			o.Watch, builder.EngineModule)
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
		return errkind.Wrap(errBadFlag, nil, "--watch-module %s: %v", o.WatchModule, err)
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

// devWatch is `engine dev --watch FOLDER`: the folder's driver is built with the builder's own
// build path, added to the demo room as one module, and rebuilt on every save; its module moves
// to each new build without a gap (the reconciler's move to a new binary), and a build that
// fails leaves the last good one serving. What happens is printed to the terminal (out), briefly
// logged too.
type devWatch struct {
	dir   string
	files *folderWatch
	drv   model.Driver
	mod   model.Module

	bld   *builder.Builder
	store *raftfsm.Store
	core  *core.Core
	api   string // http://host:port/api/engine/v2
	out   io.Writer
	log   hclog.Logger

	made []string // binaries this watch built, each removed once no module runs it
}

// watchSystem is the demo room the watched module joins.
const watchSystem = "sys-demo"

func newDevWatch(o *options, n *node, out io.Writer) (*devWatch, error) {
	modRoot, _ := builder.ModuleRoot(o.Watch) // checkWatch found it
	files, err := newFolderWatch(o.Watch, modRoot)
	if err != nil {
		return nil, fmt.Errorf("--watch %s: %w", o.Watch, err)
	}
	s := o.watchSpec
	id := strings.ToLower(folderID(o.Watch))
	w := &devWatch{dir: o.Watch, files: files, bld: n.build, store: n.store, core: n.core,
		api: "http://" + n.api.Addr().String() + "/api/engine/v2", out: out, log: n.log.Named("watch")}
	w.drv = model.Driver{ID: "drv-watch-" + id, Name: "watched: " + o.Watch, ModuleName: s.ModuleName, Role: s.Role}
	if w.drv.ModuleName == "" {
		w.drv.ModuleName = moduleName(o.Watch)
	}
	if w.drv.Role == "" {
		w.drv.Role = model.RoleDevice
	}
	w.mod = s.Module
	w.mod.ID, w.mod.DriverID, w.mod.Running = "mod-watch-"+id, w.drv.ID, true
	if w.mod.Notes == "" {
		w.mod.Notes = "engine dev --watch " + o.Watch
	}
	if w.drv.Role == model.RoleLogic && w.mod.ControlSystemID == "" {
		w.mod.ControlSystemID = watchSystem
	}
	return w, nil
}

// run builds the folder, then again after every settled save, until ctx ends.
func (w *devWatch) run(ctx context.Context) {
	w.printf("engine dev is watching %s: building it...\n", w.dir)
	w.rebuild(ctx, change{})
	for {
		c, err := w.files.next(ctx, func(err error) { w.printf("watch: cannot read %s: %v (waiting for it)\n", w.dir, err) })
		if err != nil {
			return
		}
		w.rebuild(ctx, c)
	}
}

// rebuild builds the folder after change c (none: the first build) and moves the module to the
// new binary, or says why not.
func (w *devWatch) rebuild(ctx context.Context, c change) {
	what := "first build"
	if len(c.files) > 0 {
		what = w.describe(c.files) + " saved"
	}
	started := time.Now()
	bin, err := w.bld.BuildFolder(ctx, w.dir)
	if ctx.Err() != nil {
		return
	}
	name := w.moduleSlug()
	if err != nil { // the builder logged it, with the whole compiler output
		keeps := "nothing runs yet: fix it and save"
		if w.drv.Binary != "" {
			keeps = name + " keeps running build " + buildID(w.drv.Binary)
		}
		w.printf("watch: %s → build FAILED; %s\n%s", what, keeps, indentLines(compilerLines(err), 4))
		return
	}
	if bin.Path == w.drv.Binary {
		w.printf("watch: %s → the binary is unchanged (build %s)\n", what, buildID(bin.Path))
		return
	}
	first := w.drv.Binary == ""
	w.drv.Binary = bin.Path
	if err := w.apply(ctx, first); err != nil {
		if ctx.Err() == nil {
			w.printf("watch: %s → built, but the engine refused it: %v\n", what, err)
		}
		return
	}
	w.made = append(w.made, bin.Path)
	name = w.moduleSlug()
	if !w.serving(ctx, bin.Path) {
		if ctx.Err() == nil {
			w.printf("watch: %s → built %s, but %s does not run it after %s (crashing at start? see the log above); the last good build keeps serving\n",
				what, buildID(bin.Path), name, serveWithin)
		}
		return
	}
	w.log.Info("module runs the new build", "module", w.mod.ID, "binary", bin.Path)
	if first {
		w.printLoaded(ctx, bin, name, time.Since(started))
	} else {
		w.printf("watch: %s → %s serves build %s, %.1f s after the save\n", what, name, buildID(bin.Path), time.Since(c.saved).Seconds())
	}
	w.discardUnused()
}

// apply writes the driver (and, the first time, the module and its place in the demo room)
// through Raft; the reconciler does the rest.
func (w *devWatch) apply(ctx context.Context, first bool) error {
	drv := w.drv
	f := &model.File{Drivers: []*model.Driver{&drv}}
	if first {
		mod := w.mod
		f.Modules = []*model.Module{&mod}
		m, _ := w.store.Model()
		sys := m.Systems[watchSystem]
		if sys == nil {
			return fmt.Errorf("no system %s to add the module to", watchSystem)
		}
		room := *sys
		if !slices.Contains(room.Modules, mod.ID) {
			room.Modules = append(slices.Clone(room.Modules), mod.ID)
		}
		f.Systems = []*model.System{&room}
	}
	return applyWhenLed(ctx, w.store, f, w.log)
}

// serveWithin bounds the wait for a new build to serve: a driver process starts in well under a
// second, so this is a driver that crashes at start.
const serveWithin = 30 * time.Second

// serving waits until the module runs on binary: started, or moved, and its metadata written.
func (w *devWatch) serving(ctx context.Context, binary string) bool {
	ctx, cancel := context.WithTimeout(ctx, serveWithin)
	defer cancel()
	for !w.runs(ctx, binary) {
		if sleepCtx(ctx, 10*time.Millisecond) != nil {
			return false
		}
	}
	return true
}

// runs reports whether core has the module running on binary (its node status).
func (w *devWatch) runs(ctx context.Context, binary string) bool {
	st, _ := w.core.NodeStatus(ctx)
	m, _ := st.(map[string]any)
	mods, _ := m["modules"].([]core.ModuleStatus)
	for _, ms := range mods {
		if ms.ID == w.mod.ID {
			return ms.Running && ms.Driver == binary
		}
	}
	return false
}

// discardUnused removes the binaries of earlier saves that no module runs any more: without it a
// day of saves would fill the data directory with driver binaries.
func (w *devWatch) discardUnused() {
	loaded := w.core.Loaded()
	keep := w.made[:0]
	for _, p := range w.made {
		if p == w.drv.Binary || len(loaded[p]) > 0 {
			keep = append(keep, p)
			continue
		}
		if err := w.bld.Discard(p); err != nil {
			w.log.Warn("cannot remove an old build", "binary", p, "error", err)
		}
	}
	w.made = keep
}

// moduleSlug is the module's name in the demo room (Display_3), as the API names it.
func (w *devWatch) moduleSlug() string {
	m, _ := w.store.Model()
	if sys := m.Systems[watchSystem]; sys != nil {
		for key, id := range m.Lookup(sys) {
			if id == w.mod.ID {
				return strings.Replace(key, "/", "_", 1)
			}
		}
	}
	return w.drv.ModuleName + "_1"
}

// printLoaded says what was loaded and how to call it.
func (w *devWatch) printLoaded(ctx context.Context, bin builder.Binary, name string, took time.Duration) {
	fn, args := sampleCall(ctx, bin.Path)
	reach := fmt.Sprintf("ip %s, port %d, uri %q", w.mod.IP, w.mod.Port, w.mod.URI)
	if w.mod.IP == "" && w.mod.URI == "" && w.drv.Role != model.RoleLogic {
		reach = "no ip or uri to reach a device at: give them with --watch-module FILE"
	}
	w.printf(`
  driver:   %s (%s, role %s), binary %s built in %.1f s
  module:   %s in %s (%s; %s)
  execute:  curl -s -X POST %s/systems/%s/%s/%s -d '%s'
  statuses: curl -s %s/systems/%s/%s
  Every save of a .go file, go.mod or go.sum in the folder rebuilds it; the module moves to the
  new build with no gap, and a build that fails leaves the last good one serving.

`, w.drv.ID, w.dir, w.drv.Role, filepath.Base(bin.Path), took.Seconds(),
		name, watchSystem, w.mod.ID, reach,
		w.api, watchSystem, name, fn, args,
		w.api, watchSystem, name)
}

func (w *devWatch) printf(format string, args ...any) { _, _ = fmt.Fprintf(w.out, format, args...) }

// describe names the saved files briefly: the first, relative to the folder, and how many more.
func (w *devWatch) describe(files []string) string {
	rel, err := filepath.Rel(w.dir, files[0])
	if err != nil || strings.HasPrefix(rel, "..") {
		rel = files[0]
	}
	if len(files) > 1 {
		return fmt.Sprintf("%s (+%d)", rel, len(files)-1)
	}
	return rel
}

// sampleCall is a function of the driver and named arguments for it, from the binary's metadata
// (the first function by name; each parameter's default, else a value of its type), for the
// curl line printed once the driver is loaded.
func sampleCall(ctx context.Context, binary string) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "--metadata").Output()
	var md struct {
		Functions map[string]map[string][]json.RawMessage `json:"functions"`
	}
	if err != nil || json.Unmarshal(out, &md) != nil || len(md.Functions) == 0 {
		return "FUNCTION", "[]"
	}
	// Named arguments: a parameter's position is not in the metadata.
	names := make([]string, 0, len(md.Functions))
	for n := range md.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	params := md.Functions[names[0]]
	if len(params) == 0 {
		return names[0], "[]"
	}
	args := map[string]json.RawMessage{}
	for param, spec := range params {
		args[param] = sampleValue(spec)
	}
	js, _ := json.Marshal(args)
	return names[0], string(js)
}

// sampleValue is a parameter's default ([type, default]) or a plain value of its type.
func sampleValue(spec []json.RawMessage) json.RawMessage {
	if len(spec) > 1 {
		return spec[1]
	}
	var typ string
	if len(spec) == 1 {
		_ = json.Unmarshal(spec[0], &typ)
	}
	switch {
	case typ == "bool":
		return json.RawMessage("true")
	case typ == "string":
		return json.RawMessage(`""`)
	case strings.HasPrefix(typ, "int"), strings.HasPrefix(typ, "uint"), strings.HasPrefix(typ, "float"):
		return json.RawMessage("0")
	}
	return json.RawMessage("null")
}

// compilerLines is what the terminal shows of a failed build: the compiler's first lines (its
// first complaints; the log has the whole output), or the error itself.
func compilerLines(err error) string {
	const show = 10
	var be *builder.BuildError
	if !errors.As(err, &be) {
		return err.Error()
	}
	lines := strings.Split(be.Output, "\n")
	if len(lines) > show {
		lines = append(lines[:show], fmt.Sprintf("... %d more lines in the log", len(lines)-show))
	}
	return strings.Join(lines, "\n")
}

func indentLines(s string, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(pad + strings.TrimRight(line, "\n") + "\n")
	}
	return b.String()
}

// buildID is a build's short name in the terminal: the checksum part of its binary's name.
func buildID(binary string) string {
	base := filepath.Base(binary)
	if _, rest, ok := strings.Cut(base, "_dev-"); ok {
		id, _, _ := strings.Cut(rest, "_")
		return id
	}
	return base
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
