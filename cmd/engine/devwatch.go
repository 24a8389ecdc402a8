package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/builder"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/raftfsm"
	"github.com/placeos-go/engine/state"
)

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
	core  watchedCore
	api   string // http://host:port/api/engine/v2
	out   io.Writer
	log   hclog.Logger

	made []string // binaries this watch built, each removed once no module runs it
	sim  *devSim  // the folder's simulator; nil when it has none running
	spec string   // the file the module came from (--watch-module, or the folder's dev.yaml)
	// served: a build of this watch has served the module; the first to do so prints how to call it.
	served bool
	// keysNote follows the printed curl lines under --auth keys, which they need a key for.
	keysNote string
}

// watchSystem is the demo room the watched module joins.
const watchSystem = "sys-demo"

// The ids of a watched driver and its module: the prefix, then the folder's id.
const (
	watchDriverPrefix = "drv-watch-"
	watchModulePrefix = "mod-watch-"
)

// forgetWatches deletes the watched drivers and modules an earlier engine dev left in the model
// (the data directory keeps it), before the reconciler runs: their folders may be gone, and a
// plain engine dev must not start them. Run after the demo model is applied, which takes them
// out of the demo room, so that nothing refers to them any more. A watch of this run adds its
// own again once its first build is done. A module's keys in Redis go with it (ForgetModule, as
// a deletion's: the reconciler, not running yet, never saw it in the model); a Redis that does not
// take that now leaves them to the sweep. A module someone added on a watched driver (through the
// API) goes too: its driver does; one a system of their own still lists stops the start with
// what to do, before anything is deleted.
func forgetWatches(ctx context.Context, store *raftfsm.Store, st *state.Store, dataDir string, log hclog.Logger) error {
	m, _ := store.Model()
	watched := func(kind model.Kind, id string) bool {
		if kind == model.KindDriver {
			return strings.HasPrefix(id, watchDriverPrefix)
		}
		return strings.HasPrefix(id, watchModulePrefix) || strings.HasPrefix(m.Modules[id].DriverID, watchDriverPrefix)
	}
	for _, sys := range slices.Sorted(maps.Keys(m.Systems)) {
		for _, id := range m.Systems[sys].Modules {
			if m.Modules[id] != nil && watched(model.KindModule, id) {
				return fmt.Errorf("module %s of system %s runs a driver an earlier engine dev --watch left, which goes now: take it out of the system "+
					"(or delete it) with a plain engine dev on this data directory, or start afresh with another --data-dir (or remove %s)", id, sys, dataDir)
			}
		}
	}
	stale := func(kind model.Kind, ids []string) error {
		for _, id := range ids {
			if !watched(kind, id) {
				continue
			}
			if err := store.Delete(ctx, kind, id); err != nil {
				return fmt.Errorf("remove %s, left by an earlier engine dev --watch: %w", id, err)
			}
			log.Info("removed what an earlier engine dev --watch left", "id", id)
			if kind == model.KindModule {
				fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				if _, err := st.ForgetModule(fctx, id); err != nil {
					log.Warn("deleting its keys from redis failed; the sweep deletes them later", "id", id, "error", err)
				}
				cancel()
			}
		}
		return nil
	}
	// Modules first: a driver that a module uses cannot be deleted.
	if err := stale(model.KindModule, slices.Sorted(maps.Keys(m.Modules))); err != nil {
		return err
	}
	return stale(model.KindDriver, slices.Sorted(maps.Keys(m.Drivers)))
}

func newDevWatch(o *options, n *node, out io.Writer) (*devWatch, error) {
	modRoot, _ := builder.ModuleRoot(o.Watch) // checkWatch found it
	files, err := newFolderWatch(o.Watch, modRoot)
	if err != nil {
		return nil, fmt.Errorf("--watch %s: %w", o.Watch, err)
	}
	s := o.watchSpec
	id := strings.ToLower(folderID(o.Watch))
	w := &devWatch{dir: o.Watch, files: files, bld: n.bld, store: n.store, core: n.core, spec: o.WatchModule,
		api: "http://" + n.api.Addr().String() + "/api/engine/v2", out: out, log: n.log.Named("watch")}
	if o.Auth == "keys" {
		w.keysNote = "\n  (--auth keys: add -H \"X-API-Key: <a key of --api-keys>\" to these.)"
	}
	w.drv = model.Driver{ID: watchDriverPrefix + id, Name: "watched: " + o.Watch, ModuleName: s.ModuleName, Role: s.Role}
	if w.drv.ModuleName == "" {
		w.drv.ModuleName = moduleName(o.Watch)
	}
	if w.drv.Role == "" {
		w.drv.Role = model.RoleDevice
	}
	w.mod = s.Module
	w.mod.ID, w.mod.DriverID, w.mod.Running = watchModulePrefix+id, w.drv.ID, true
	if w.mod.Notes == "" {
		w.mod.Notes = "engine dev --watch " + o.Watch
	}
	if w.drv.Role == model.RoleLogic && w.mod.ControlSystemID == "" {
		w.mod.ControlSystemID = watchSystem
	}
	return w, nil
}

// run starts the folder's simulator, builds the folder, then again after every settled save,
// until ctx ends; then it stops the simulator. The folder is watched all along, so a save made
// while a build is waiting to serve is built at once.
func (w *devWatch) run(ctx context.Context) {
	w.printf("engine dev is watching %s: building it...\n", w.dir)
	w.sim = w.startSim(ctx)
	defer w.sim.stop()
	saves := make(chan change)
	go func() {
		for {
			c, err := w.files.next(ctx, func(err error) { w.printf("watch: cannot read %s: %v (waiting for it)\n", w.dir, err) })
			if err != nil {
				return
			}
			select {
			case saves <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	next := w.rebuild(ctx, change{}, saves)
	for {
		if next == nil {
			select {
			case c := <-saves:
				next = &c
			case <-ctx.Done():
				return
			}
		}
		next = w.rebuild(ctx, *next, saves)
	}
}

// rebuild builds the folder after change c (none: the first build) and moves the module to the
// new binary, or says why not. It returns a save that came while it waited for the build to
// serve, for the caller to build next.
func (w *devWatch) rebuild(ctx context.Context, c change, saves <-chan change) *change {
	what := "first build"
	if len(c.files) > 0 {
		what = w.describe(c.files) + " saved"
	}
	started := time.Now()
	bin, err := w.bld.BuildFolder(ctx, w.dir)
	if ctx.Err() != nil {
		return nil
	}
	name := w.moduleSlug()
	if err != nil { // the builder logged it, with the whole compiler output
		keeps := "nothing runs yet: fix it and save"
		if w.drv.Binary != "" {
			keeps = w.keeps(ctx, name)
		}
		w.printf("watch: %s → build FAILED; %s\n%s", what, keeps, indentLines(compilerLines(err), 4))
		return nil
	}
	if bin.Path == w.drv.Binary {
		w.printf("watch: %s → the binary is unchanged (build %s)\n", what, buildID(bin.Path))
		return nil
	}
	first := w.drv.Binary == ""
	if err := w.apply(ctx, bin.Path, first); err != nil {
		if ctx.Err() == nil {
			w.printf("watch: %s → built, but the engine refused it: %v\n", what, err)
		}
		return nil
	}
	w.made = append(w.made, bin.Path)
	name = w.moduleSlug()
	res := w.await(ctx, bin.Path, saves)
	switch {
	case ctx.Err() != nil && res.saved == nil:
		return nil
	case res.saved != nil:
		w.printf("watch: %s → built %s; saved again before it served, building that\n", what, buildID(bin.Path))
		return res.saved
	case res.loadErr != "":
		w.printf("watch: %s → built %s, but %s did not load: %s — %s; %s\n",
			what, buildID(bin.Path), name, res.loadErr, w.fixHint(), w.keeps(ctx, name))
		return nil
	case !res.served:
		w.printf("watch: %s → built %s, but %s does not run it after %s (see the log above); %s\n",
			what, buildID(bin.Path), name, serveWithin, w.keeps(ctx, name))
		return nil
	}
	w.log.Info("module runs the new build", "module", w.mod.ID, "binary", bin.Path)
	if !w.served {
		w.served = true
		w.printLoaded(ctx, bin, name, time.Since(started))
	} else {
		w.printf("watch: %s → %s serves build %s, %.1f s after the save\n", what, name, buildID(bin.Path), time.Since(c.saved).Seconds())
	}
	w.discardUnused()
	return nil
}

// apply writes the driver with its new binary (and, the first time, the module and its place in
// the demo room) through Raft; the reconciler does the rest.
func (w *devWatch) apply(ctx context.Context, binary string, first bool) error {
	drv := w.drv
	drv.Binary = binary
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
	if err := applyWhenLed(ctx, w.store, f, w.log); err != nil {
		return err
	}
	w.drv.Binary = binary
	return nil
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

// specFile names where the module's fields come from, for messages.
func (w *devWatch) specFile() string {
	if w.spec == "" {
		return "--watch-module FILE (none given)"
	}
	return w.spec
}

// fixHint says what to do when the module does not load: fix the driver and save (the watch
// rebuilds it), or fix the module's settings file (relative to the working directory when inside
// it), which is read at start only.
func (w *devWatch) fixHint() string {
	if w.spec == "" {
		return "fix the driver and save"
	}
	return "fix the driver and save, or fix " + shortPath(w.spec) + " and restart engine dev"
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
