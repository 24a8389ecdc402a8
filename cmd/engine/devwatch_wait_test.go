package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/core"
)

// fakeCore is a node status that a test changes while the watch waits on it.
type fakeCore struct {
	mu    sync.Mutex
	ms    core.ModuleStatus
	polls int
}

func (f *fakeCore) set(ms core.ModuleStatus) { f.mu.Lock(); f.ms = ms; f.mu.Unlock() }

func (f *fakeCore) NodeStatus(context.Context) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	return map[string]any{"modules": []core.ModuleStatus{f.ms}}, nil
}

// polled waits until the status was read n more times.
func (f *fakeCore) polled(t *testing.T, n int) {
	f.mu.Lock()
	want := f.polls + n
	f.mu.Unlock()
	for deadline := time.Now().Add(5 * time.Second); ; {
		f.mu.Lock()
		p := f.polls
		f.mu.Unlock()
		if p >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the status was read %d times, want %d", p, want)
		}
		runtime.Gosched()
	}
}

func (f *fakeCore) Loaded() map[string][]string { return nil }

func TestStartError(t *testing.T) {
	const bin = "/data/drivers/projector_dev-b2"
	for _, tc := range []struct {
		err, want string
		ok        bool
	}{
		{"", "", false},
		{`start mod-watch-projector (driver projector_dev-a1): bad settings: x`, "", false},  // an older build's
		{`start mod-watch-projector (driver projector_dev-b22): bad settings: x`, "", false}, // another's, alike
		{`start mod-watch-projector (driver projector_dev-b2): bad settings: setting "poll_seconds": 2 is below the minimum 5`,
			`bad settings: setting "poll_seconds": 2 is below the minimum 5`, true},
		{`supervisor: driver process exited during start mod-watch-projector (driver projector_dev-b2, pid 7, exit status 2)`,
			`supervisor: driver process exited during start mod-watch-projector (driver projector_dev-b2, pid 7, exit status 2)`, true},
	} {
		if got, ok := startError(tc.err, bin); got != tc.want || ok != tc.ok {
			t.Errorf("startError(%q) = %q, %v; want %q, %v", tc.err, got, ok, tc.want, tc.ok)
		}
	}
}

// The wait for a build ends as soon as the engine reports its start failed (not on the failure of
// the build before it, still in the status), when it serves, or when a save comes in.
func TestAwaitBuild(t *testing.T) {
	const old, bin = "/d/projector_dev-a1", "/d/projector_dev-b2"
	fc := &fakeCore{}
	w := &devWatch{core: fc}
	w.mod.ID = "mod-watch-projector"
	stale := core.ModuleStatus{ID: w.mod.ID, Error: "start mod-watch-projector (driver projector_dev-a1): bad settings: old"}
	ctx := context.Background()

	fc.set(stale)
	done := make(chan outcome, 1)
	go func() { done <- w.await(ctx, bin, nil) }()
	fc.polled(t, 5)
	select {
	case r := <-done:
		t.Fatalf("the wait ended on the older build's error: %+v", r)
	default:
	}
	fc.set(core.ModuleStatus{ID: w.mod.ID, Error: "move: start mod-watch-projector (driver projector_dev-b2): module mod-watch-projector did not load: bad settings: new"})
	if r := <-done; r.loadErr != "bad settings: new" || r.served {
		t.Fatalf("a failed start: %+v", r)
	}
	if got := w.keeps(ctx, "Projector_1"); got != "nothing serves Projector_1 yet" {
		t.Errorf("keeps with nothing running: %q", got)
	}

	fc.set(core.ModuleStatus{ID: w.mod.ID, Running: true, Driver: bin})
	if r := w.await(ctx, bin, nil); !r.served {
		t.Fatalf("a build that runs: %+v", r)
	}
	if got := w.keeps(ctx, "Projector_1"); got != "Projector_1 keeps running build b2" {
		t.Errorf("keeps with a build running: %q", got)
	}

	fc.set(stale)
	saves := make(chan change, 1)
	saves <- change{files: []string{"projector.go"}}
	if r := w.await(ctx, bin, saves); r.saved == nil || r.saved.files[0] != "projector.go" {
		t.Fatalf("a save during the wait: %+v", r)
	}
}

// The execute line's call: power [true] on a Powerable driver, else the first function in
// declaration order that needs no argument, else the first.
func TestChooseCall(t *testing.T) {
	for _, tc := range []struct{ md, fn, args string }{
		{`{"functions":{"input":{},"freeze":{"state":["bool"]},"power":{"state":["bool"]}},"implements":["Powerable"]}`, "power", "[true]"},
		{`{"functions":{"freeze":{"state":["bool"]},"volume":{"level":["int",50]},"input":{}}}`, "volume", `{"level":50}`},
		{`{"functions":{"zoom":{"to":["int"]},"freeze":{"state":["bool"]}}}`, "zoom", `{"to":0}`},
		{`{"functions":{}}`, "FUNCTION", "[]"},
		{`not json`, "FUNCTION", "[]"},
	} {
		if fn, args := chooseCall([]byte(tc.md)); fn != tc.fn || args != tc.args {
			t.Errorf("chooseCall(%s) = %s %s, want %s %s", tc.md, fn, args, tc.fn, tc.args)
		}
	}
}

// The demo's status command is this binary, as the author can paste it, never a bin/engine
// that a driver repository does not have.
func TestPrintDemoNamesThisBinary(t *testing.T) {
	var b strings.Builder
	printDemo(&b, "127.0.0.1:8080", false)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want := exe + " status --server http://127.0.0.1:8080"
	if !strings.Contains(b.String(), want) || strings.Contains(b.String(), "bin/engine") {
		t.Fatalf("want %q in:\n%s", want, b.String())
	}
	if rel, ok := within(filepath.Dir(exe), exe); !ok || rel != filepath.Base(exe) {
		t.Errorf("within(%s, %s) = %q, %v", filepath.Dir(exe), exe, rel, ok)
	}
	if _, ok := within(exe, filepath.Dir(exe)); ok {
		t.Errorf("a parent is within its child")
	}
}

// Under --auth keys the printed commands say what they need (a key the engine does not print);
// without it they stay as they are.
func TestPrintDemoSaysKeysAreNeeded(t *testing.T) {
	for _, keys := range []bool{false, true} {
		var b strings.Builder
		printDemo(&b, "127.0.0.1:8080", keys)
		if got := strings.Contains(b.String(), `-H "X-API-Key:`) && strings.Contains(b.String(), "ENGINE_API_KEY"); got != keys {
			t.Errorf("auth keys %v: the hint printed: %v\n%s", keys, got, b.String())
		}
	}
}
