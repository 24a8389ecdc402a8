package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// replaceBinary renames a new file with data over path, the way a build replaces a binary under
// its running process; it checks that writing over the running binary is refused.
func replaceBinary(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o755); !errors.Is(err, syscall.ETXTBSY) {
		t.Fatalf("writing over a running binary: %v, want text file busy", err)
	}
	if err := os.WriteFile(path+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// warnings are the WARN and ERROR lines the supervisor logged.
func warnings(f *fixture) []string {
	var out []string
	for _, lvl := range []string{"warn", "error"} {
		for _, e := range f.logs.Entries("@level", lvl) {
			out = append(out, fmt.Sprint(e["@message"], " ", e["error"]))
		}
	}
	return out
}

// A bit-identical rebuild renamed over the running binary (a recompile of the same commit) is
// looked at by content: nothing is loaded, nothing is said above DEBUG, the process stays.
func TestReplacedByIdenticalBinary(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: 20 * time.Millisecond})
	f.binary = copyBinary(t, f.binary)
	f.start(t, testModule("mod-a", `{}`))
	pid := f.pid(t)
	data, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	replaceBinary(t, f.binary, data)

	const looked = "driver binary rebuilt identical to the running one: nothing to load"
	testutil.Eventually(t, 10*time.Second, "the probe's look at the new file", func() bool { return len(findLogs(f.logs, looked)) > 0 })
	r, err := f.sup.Reload(context.Background(), f.binary)
	if err != nil || r.Result != ReloadUnchanged || r.SHA256 != r.Previous || r.SHA256 == "" {
		t.Fatalf("reload of an identical binary = %+v, %v; want unchanged", r, err)
	}
	if got := f.pid(t); got != pid {
		t.Fatalf("the process was replaced (pid %d, then %d) for an identical binary", pid, got)
	}
	if w := warnings(f); len(w) != 0 {
		t.Fatalf("an identical rebuild logged %q", w)
	}
	if n := len(findLogs(f.logs, looked)); n != 2 {
		t.Fatalf("the identical file was looked at %d times, want once by the probe and once by Reload", n)
	}
	f.exec(t, "mod-a", "echo", 1)
}

// A different binary renamed over the running one is loaded by the probe with no gap: a new
// process of it serves every module while a client calls them in a loop, no call fails, and
// the old process ends.
func TestReplacedBinaryLoadedWithoutFailedCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: 20 * time.Millisecond})
	f.binary = copyBinary(t, f.binary)
	f.start(t, testModule("mod-a", `{"v": 1}`))
	f.start(t, testModule("mod-b", `{"v": 2}`))
	oldPID := f.pid(t)

	calls, failures, end := callLoop(t, f, "the reload", "mod-a", "mod-b")
	defer end()
	testutil.Eventually(t, 5*time.Second, "calls running", func() bool { return calls.Load() > 20 })

	data, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	// Another build of the driver: the same code with bytes after it, so another SHA-256.
	replaceBinary(t, f.binary, append(data, []byte("another build")...))
	want, err := fileSum(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	const loaded = "driver binary loaded: its modules moved to the new process"
	testutil.Eventually(t, 20*time.Second, "the modules in a process of the new binary", func() bool {
		st, ok := f.sup.DriverStatus(f.binary)
		if !ok || st.PID == 0 || st.PID == oldPID {
			return false
		}
		sum, ok := f.sup.RunningSHA256(f.binary)
		return ok && sum == want && len(f.sup.Loaded()[f.binary]) == 2 && len(findLogs(f.logs, loaded)) > 0
	})
	before := calls.Load()
	testutil.Eventually(t, 5*time.Second, "calls after the reload", func() bool { return calls.Load() > before+20 })
	end()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failures.Load(), calls.Load())
	}
	testutil.WaitGone(t, oldPID)
	if got := f.exec(t, "mod-b", "settings"); got != `{"v": 2}` && got != `{"v":2}` {
		t.Fatalf("settings after the reload = %s", got)
	}
	if w := warnings(f); len(w) != 0 {
		t.Fatalf("the reload logged %q", w)
	}
	if e := findLogs(f.logs, loaded); len(e) != 1 || e[0]["to_sha256"] != want[:12] || e[0]["moved"] != float64(2) {
		t.Fatalf("the reload's INFO line = %v, want one naming the new sha and 2 modules", e)
	}
}

// Reload called directly (the recompile route) says what it did: loaded, with the modules it
// moved, then unchanged; a binary with no process is not running.
func TestReloadSaysWhatItDid(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: time.Hour})
	f.binary = copyBinary(t, f.binary)
	ctx := context.Background()
	if r, err := f.sup.Reload(ctx, f.binary); err != nil || r.Result != ReloadNotRunning {
		t.Fatalf("reload with no process = %+v, %v", r, err)
	}
	f.start(t, testModule("mod-a", `{}`))
	f.start(t, testModule("mod-b", `{}`))
	oldPID := f.pid(t)
	before, _ := f.sup.RunningSHA256(f.binary)
	data, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	replaceBinary(t, f.binary, append(data, 0))

	r, err := f.sup.Reload(ctx, f.binary)
	if err != nil || r.Result != ReloadLoaded || r.Previous != before || r.SHA256 == before || fmt.Sprint(r.Moved) != "[mod-a mod-b]" {
		t.Fatalf("reload of a new binary = %+v, %v", r, err)
	}
	if f.pid(t) == oldPID {
		t.Fatal("still the old process after the reload")
	}
	testutil.WaitGone(t, oldPID)
	if r, err := f.sup.Reload(ctx, f.binary); err != nil || r.Result != ReloadUnchanged {
		t.Fatalf("second reload = %+v, %v; want unchanged", r, err)
	}
	f.exec(t, "mod-a", "echo", 1)
}

// A module the new binary refuses to start keeps running in the old process, which stays until
// that module stops; the others move, and the binary's driver is the new process throughout.
func TestReloadKeepsARefusedModuleOnTheOldProcess(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: time.Hour})
	f.binary = copyBinary(t, f.binary)
	ctx := context.Background()
	f.start(t, testModule("mod-a", `{}`))
	f.start(t, testModule("mod-x", `{}`))
	oldPID := f.pid(t)
	// A configuration the driver refuses: the old process keeps the one it runs with.
	if err := f.sup.Update(ctx, testModule("mod-x", `{"refuse_start": true}`)); err == nil {
		t.Fatal("the driver took a configuration it refuses")
	}
	data, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	replaceBinary(t, f.binary, append(data, 1))

	r, err := f.sup.Reload(ctx, f.binary)
	if err == nil || r.Result != ReloadLoaded || fmt.Sprint(r.Moved) != "[mod-a]" || fmt.Sprint(r.Failed) != "[mod-x]" {
		t.Fatalf("reload with a refused module = %+v, %v", r, err)
	}
	newPID := f.pid(t)
	if newPID == oldPID {
		t.Fatal("the binary's driver is still the old process")
	}
	if got := fmt.Sprint(f.sup.Loaded()[f.binary]); got != "[mod-a mod-x]" {
		t.Fatalf("loaded = %s, want both modules under the binary", got)
	}
	f.exec(t, "mod-x", "echo", 1)
	f.exec(t, "mod-a", "echo", 1)
	if err := f.sup.Stop(ctx, "mod-x"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, oldPID)
	if f.pid(t) != newPID {
		t.Fatal("stopping the old process's last module touched the new process")
	}
	f.exec(t, "mod-a", "echo", 1)
}

// When the new binary starts none of the modules, the reload failed: the old process stays the
// binary's driver and serves them all.
func TestReloadRefusedByEveryModule(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: time.Hour})
	f.binary = copyBinary(t, f.binary)
	ctx := context.Background()
	f.start(t, testModule("mod-x", `{}`))
	oldPID := f.pid(t)
	if err := f.sup.Update(ctx, testModule("mod-x", `{"refuse_start": true}`)); err == nil {
		t.Fatal("the driver took a configuration it refuses")
	}
	data, err := os.ReadFile(f.binary)
	if err != nil {
		t.Fatal(err)
	}
	replaceBinary(t, f.binary, append(data, 2))
	r, err := f.sup.Reload(ctx, f.binary)
	if err == nil || r.Result != ReloadFailed || len(r.Moved) != 0 || fmt.Sprint(r.Failed) != "[mod-x]" {
		t.Fatalf("reload refused by every module = %+v, %v", r, err)
	}
	if got := f.pid(t); got != oldPID {
		t.Fatalf("the binary's driver is pid %d, not the old process %d that runs its module", got, oldPID)
	}
	f.exec(t, "mod-x", "echo", 1)
}

// wrapperScript writes a script that execs binary (as an operator's wrapper that sets something
// up first) and returns its path.
func wrapperScript(t *testing.T, binary, comment string) string {
	t.Helper()
	path := t.TempDir() + "/driver.sh"
	if err := os.WriteFile(path, []byte("#!/bin/sh\n# "+comment+"\nexec "+binary+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// A driver whose binary is a script that execs (or runs) the driver: /proc/<pid>/exe names the
// program the script became, never the script, and the probe took that for a file replaced under
// the process. Once the script was replaced, or a first reload of it worked, every probe (5 s)
// reloaded it: a new process, every module moved to it, its device connections dropped and made
// again, for as long as the driver ran. The file the process was launched from is what the
// probe compares now: a wrapper is reloaded once when it is replaced, and left alone after.
func TestWrapperScriptReloadedOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{ProbeInterval: time.Hour}) // the test looks for the probe
	real := f.binary
	f.binary = wrapperScript(t, real, "first")
	f.start(t, testModule("mod-a", `{}`))
	proc := func() *process {
		f.sup.mu.Lock()
		defer f.sup.mu.Unlock()
		return f.sup.drivers[f.binary].proc
	}
	if _, replaced := proc().binaryReplaced(); replaced {
		t.Fatal("the probe takes the script the process was launched from for a replaced file")
	}
	data := []byte("#!/bin/sh\n# second\nexec " + real + " \"$@\"\n")
	if err := os.WriteFile(f.binary+".new", data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.binary+".new", f.binary); err != nil {
		t.Fatal(err)
	}
	if _, replaced := proc().binaryReplaced(); !replaced {
		t.Fatal("the probe does not see the script replaced")
	}
	// Reload takes a process that has started its modules (ready), a moment after Start returned.
	testutil.Eventually(t, 10*time.Second, "the driver's process ready", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		return st.Running
	})
	pid := f.pid(t)
	if r, err := f.sup.Reload(context.Background(), f.binary); err != nil || r.Result != ReloadLoaded {
		t.Fatalf("reload of the replaced script = %+v, %v", r, err)
	}
	if f.pid(t) == pid {
		t.Fatal("the module still runs in the process of the old script")
	}
	if _, replaced := proc().binaryReplaced(); replaced {
		t.Fatal("the process of the new script is taken for one whose file was replaced: the probe would reload it again")
	}
	f.exec(t, "mod-a", "echo", 1)
}
