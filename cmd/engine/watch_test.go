package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// A save is noticed once its burst settles and named; what cannot change the binary (tests,
// hidden files, editor temporaries, testdata, a nested module, other file types) is not.
func TestFolderWatch(t *testing.T) {
	t.Parallel()
	mod := t.TempDir()
	dir := filepath.Join(mod, "drivers", "display")
	testutil.WriteFile(t, filepath.Join(mod, "go.mod"), "module example.com/x\n")
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n")
	w, err := newFolderWatch(dir, mod)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	scanErr := func(err error) { t.Errorf("scan: %v", err) }

	for _, name := range []string{"main_test.go", ".main.go.swp", ".#main.go", "#main.go#", "main.go~", "notes.md",
		"testdata/x.go", ".hidden/x.go", "_old/x.go", "nested/go.mod", "nested/x.go", "../../README.go"} {
		testutil.WriteFile(t, filepath.Join(dir, name), "package main\n")
	}
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n\nfunc main() {}\n")
	c, err := w.next(ctx, scanErr)
	if err != nil || !slices.Equal(c.files, []string{filepath.Join(dir, "main.go")}) {
		t.Fatalf("first change: %v %v; want main.go alone", c.files, err)
	}

	// A burst (an editor writing two files, then one of them again) is one change. The scans run
	// on their own clock, so the burst is written before next is called: next must still see
	// the whole of it at once.
	sub := filepath.Join(dir, "protocol", "codec.go")
	testutil.WriteFile(t, sub, "package protocol\n")
	testutil.WriteFile(t, filepath.Join(mod, "go.sum"), "x\n")
	testutil.WriteFile(t, sub, "package protocol\n\n// v2\n")
	c, err = w.next(ctx, scanErr)
	want := []string{sub, filepath.Join(mod, "go.sum")} // sorted
	if err != nil || !slices.Equal(c.files, want) {
		t.Fatalf("burst: %v %v; want %v", c.files, err, want)
	}
	if info, _ := os.Stat(sub); c.saved.Before(info.ModTime()) {
		t.Fatalf("saved %v: want the last file's time %v", c.saved, info.ModTime())
	}

	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	if c, err = w.next(ctx, scanErr); err != nil || !slices.Equal(c.files, []string{sub}) {
		t.Fatalf("removal: %v %v", c.files, err)
	}

	// Nothing saved: next waits until its context ends.
	short, stop := context.WithTimeout(ctx, 3*watchEvery)
	defer stop()
	if c, err := w.next(short, scanErr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no save: %v %v", c.files, err)
	}
}

// A folder that disappears is reported once, and its return is a change.
func TestFolderWatchFolderGone(t *testing.T) {
	t.Parallel()
	mod := t.TempDir()
	dir := filepath.Join(mod, "d")
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n")
	w, err := newFolderWatch(dir, mod)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	reported := make(chan error, 10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan change)
	go func() {
		c, _ := w.next(ctx, func(err error) { reported <- err })
		done <- c
	}()
	if err := <-reported; !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reported %v", err)
	}
	if err := os.Rename(dir+".away", dir); err != nil {
		t.Fatal(err)
	}
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n\nfunc main() {}\n")
	if c := <-done; !slices.Equal(c.files, []string{filepath.Join(dir, "main.go")}) {
		t.Fatalf("after the folder came back: %v", c.files)
	}
	if len(reported) > 0 {
		t.Fatalf("reported more than once: %v", <-reported)
	}
}

func TestWatchFlags(t *testing.T) {
	t.Parallel()
	mod := t.TempDir()
	dir := filepath.Join(mod, "my-projector")
	testutil.WriteFile(t, filepath.Join(mod, "go.mod"), "module example.com/x\n")
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n\nimport \"github.com/placeos-go/engine/sdk\"\n")
	testutil.WriteFile(t, filepath.Join(dir, "sim", "sim.go"), "package sim\n")
	// A main package that does not use the SDK (a device simulator, a tool) is no driver: the
	// folder listing below leaves it out (`--watch examples` listed examples/sims/* as drivers).
	testutil.WriteFile(t, filepath.Join(mod, "sims", "projector", "main.go"), "package main\n\nimport \"net\"\n")
	spec := func(yaml string) string {
		p := filepath.Join(t.TempDir(), "module.yaml")
		testutil.WriteFile(t, p, yaml)
		return p
	}
	o, err := parseOptions("dev", []string{"--watch", dir, "--watch-module",
		spec("role: service\nuri: http://127.0.0.1:9/\nsettings: {zone: 1}\n")}, true)
	if err != nil {
		t.Fatal(err)
	}
	if o.Watch != dir || o.watchSpec.Role != "service" || string(o.watchSpec.Settings["zone"]) != "1" {
		t.Fatalf("options %+v", o)
	}
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--watch", filepath.Join(mod, "missing")}, "give the folder of a driver's main package"},
		{[]string{"--watch", filepath.Join(dir, "main.go")}, "is a file, not a folder: give the folder of a driver's main package (--watch " + dir + "?)"},
		{[]string{"--watch", t.TempDir()}, "no go.mod in it or above it"},
		{[]string{"--watch", mod}, "no main package in it: a driver is a main package calling sdk.Serve (engine new driver NAME makes one); the drivers below it: " + filepath.Join(mod, "my-projector")},
		{[]string{"--watch", filepath.Join(dir, "sim")}, "no main package in it"},
		{[]string{"--watch-module", spec("ip: 10.0.0.1\n")}, "give --watch FOLDER too"},
		{[]string{"--watch", dir, "--watch-module", spec("ipp: 10.0.0.1\n")}, `unknown field "ipp"`},
		{[]string{"--watch", dir, "--watch-module", spec("role: printer\n")}, `role "printer" is not one of`},
		{[]string{"--watch", dir, "--watch-module", spec("port: 70000\n")}, "port 70000 is out of range"},
		{[]string{"--watch", dir, "--watch-module", spec("module_name: My_Projector\n")}, "want letters and digits"},
		{[]string{"--watch", dir, "--watch-module", spec("id: mod-1\n")}, "id and driver_id are the watch's own"},
	} {
		if _, err := parseOptions("dev", c.args, true); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%v: %v; want it to say %q", c.args, err, c.says)
		}
	}
	// The listing names the driver alone, not the simulator beside it.
	if _, err := parseOptions("dev", []string{"--watch", mod}, true); err == nil || !strings.HasSuffix(err.Error(), "the drivers below it: "+dir) {
		t.Errorf("--watch %s: %v; want the drivers below it to be %s alone", mod, err, dir)
	}
	if _, err := parseOptions("serve", []string{"--watch", dir}, false); err == nil {
		t.Error("engine serve took --watch")
	}
}

// TestWatchFolderForms: --watch as people type it (a trailing slash, ./x); the folder's dev.yaml
// is its module. Not parallel: it changes the working directory.
func TestWatchFolderForms(t *testing.T) {
	mod := t.TempDir()
	dir := filepath.Join(mod, "my-projector")
	testutil.WriteFile(t, filepath.Join(mod, "go.mod"), "module example.com/x\n")
	testutil.WriteFile(t, filepath.Join(dir, "main.go"), "package main\n")
	testutil.WriteFile(t, filepath.Join(dir, "dev.yaml"), "module_name: Beamer\nip: 127.0.0.1\nport: 10001\n")
	t.Chdir(mod)
	for _, typed := range []string{dir + "/", "./my-projector", "my-projector/"} {
		o, err := parseOptions("dev", []string{"--watch", typed}, true)
		if err != nil || o.Watch != dir || o.watchSpec.ModuleName != "Beamer" || o.WatchModule != filepath.Join(dir, "dev.yaml") {
			t.Errorf("--watch %s: %v; options %+v", typed, err, o)
		}
	}
	// --watch-module wins over dev.yaml.
	other := filepath.Join(t.TempDir(), "other.yaml")
	testutil.WriteFile(t, other, "module_name: Other\n")
	if o, err := parseOptions("dev", []string{"--watch", "my-projector", "--watch-module", other}, true); err != nil || o.watchSpec.ModuleName != "Other" {
		t.Errorf("--watch-module with a dev.yaml: %v; options %+v", err, o)
	}
}

func TestWatchNames(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string][2]string{
		"/src/display":       {"Display", "display"},
		"/src/my-projector":  {"MyProjector", "my-projector"},
		"/src/mydriver":      {"Mydriver", "mydriver"},
		"/src/2nd_screen.v2": {"NdScreenV2", "2nd-screen-v2"},
		"/src/ü":             {"Driver", "driver"},
	} {
		if name, id := moduleName(dir), folderID(dir); name != want[0] || id != want[1] {
			t.Errorf("%s: module name %q, id %q; want %q, %q", dir, name, id, want[0], want[1])
		}
	}
}

// The simulator listens where the module reaches its device: its ip and port, or its uri's host.
func TestSimAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mod  model.Module
		want string
	}{
		{model.Module{IP: "127.0.0.1", Port: 10001}, "127.0.0.1:10001"},
		{model.Module{IP: "::1", Port: 10001, UDP: true}, "[::1]:10001"},
		{model.Module{URI: "ws://127.0.0.1:10081/"}, "127.0.0.1:10081"},
		{model.Module{URI: "http://localhost"}, ""},
		{model.Module{IP: "127.0.0.1"}, ""},
	} {
		if got := simAddr(c.mod); got != c.want {
			t.Errorf("%+v: %q, want %q", c.mod, got, c.want)
		}
	}
}
