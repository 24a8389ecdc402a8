package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	pb "github.com/placeos-go/engine/plugin/proto"
)

func TestExec(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{CallTimeout: 2 * time.Second})
	f.start(t, testModule("mod-a", `{"volume":50}`))

	tests := []struct {
		name      string
		mod, fn   string
		args      []any
		ctxTO     time.Duration
		want      string // exact result JSON, when set
		wantLen   int    // length of a returned JSON string, when set
		wantClass string // a driver-raised error class, when set
		wantErr   error
		wantCode  int // a *errkind.DriverError of this code, when set
	}{
		{name: "echo", mod: "mod-a", fn: "echo", args: []any{1, "two"}, want: `[1,"two"]`},
		{name: "settings", mod: "mod-a", fn: "settings", want: `{"volume":50}`},
		{name: "driver error passes through", mod: "mod-a", fn: "fail", wantClass: "RuntimeError"},
		{name: "unknown function", mod: "mod-a", fn: "nope", wantClass: "NoMethodError"},
		{name: "5 MiB result", mod: "mod-a", fn: "big", args: []any{5 << 20}, wantLen: 5 << 20},
		// Over the message limit: the driver's fault, a 502 saying so, not an unexpected failure.
		{name: "result over the limit", mod: "mod-a", fn: "big", args: []any{plugin.MaxMessageSize + 1}, wantCode: 502},
		{name: "unknown module", mod: "mod-x", fn: "echo", wantErr: ErrModuleNotRunning},
		// hang ignores its deadline and then succeeds. The caller's deadline is the only bound of
		// an execute: it cuts the call off even though it is shorter than the hang, and a hang
		// longer than CallTimeout (which bounds lifecycle calls, not executes) still answers. So
		// ErrTimeout, or the result, shows which deadline applied, however slow the machine.
		{name: "caller deadline cuts off", mod: "mod-a", fn: "hang", args: []any{1000}, ctxTO: 100 * time.Millisecond, wantErr: ErrTimeout},
		{name: "no other bound", mod: "mod-a", fn: "hang", args: []any{3000}, want: `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctxTO > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTO)
				defer cancel()
			}
			resp, err := f.execErr(ctx, tc.mod, tc.fn, tc.args...)
			if tc.wantCode != 0 {
				var de *errkind.DriverError
				if !errors.As(err, &de) || de.Code != tc.wantCode || !strings.Contains(de.Message, "exceeds the 64 MiB limit") {
					t.Fatalf("err = %v, want a driver error of code %d naming the limit", err, tc.wantCode)
				}
				return
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if errors.Is(tc.wantErr, ErrTimeout) && !errors.Is(err, errkind.Timeout) {
					t.Fatalf("timeout error %v is not of kind Timeout", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantClass != "":
				if resp.Error == nil || resp.Error.Class != tc.wantClass {
					t.Fatalf("error = %v, want class %s", resp.Error, tc.wantClass)
				}
			case tc.wantLen > 0:
				var s string
				if err := json.Unmarshal(resp.ResultJson, &s); err != nil || len(s) != tc.wantLen {
					t.Fatalf("result of %d bytes (err %v), want a string of %d", len(resp.ResultJson), err, tc.wantLen)
				}
			default:
				if string(resp.ResultJson) != tc.want {
					t.Fatalf("result = %s, want %s", resp.ResultJson, tc.want)
				}
			}
		})
	}
}

// TestHostCallbacks covers every driver -> host RPC through a real driver process.
func TestHostCallbacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-a", `{}`))
	f.start(t, testModule("mod-b", `{}`))

	f.exec(t, "mod-a", "set", "power", true)
	if v, _ := f.host.statusOf("mod-a", "power"); v != "true" {
		t.Fatalf("SetStatus: power = %q", v)
	}
	if got := f.exec(t, "mod-b", "get", "mod-a", "power"); got != "true" {
		t.Fatalf("GetStatus = %s", got)
	}
	if got := f.exec(t, "mod-b", "call", "mod-a", "echo", []any{"hi"}); got != `["hi"]` {
		t.Fatalf("Exec via host = %s", got)
	}
	f.exec(t, "mod-a", "save", "volume", 70)
	if got := f.host.settings["mod-a/volume"]; got != "70" {
		t.Fatalf("SaveSetting = %q", got)
	}
	if got := f.exec(t, "mod-b", "subscribe", "mod-a", "power", 2); got != `[true,null]` {
		t.Fatalf("Subscribe = %s", got)
	}

	monitored := make(chan string, 1)
	go func() {
		resp, err := f.execErr(context.Background(), "mod-b", "monitor", "chan-1", 1)
		if err != nil {
			monitored <- err.Error()
			return
		}
		monitored <- string(resp.ResultJson)
	}()
	testutil.Eventually(t, 5*time.Second, "monitor subscription", func() bool { return f.host.monitors("chan-1") == 1 })
	f.exec(t, "mod-a", "publish", "chan-1", "hello")
	if got := <-monitored; got != `["hello"]` {
		t.Fatalf("Monitor = %s", got)
	}

	f.exec(t, "mod-a", "set", "power", nil)
	if _, ok := f.host.statusOf("mod-a", "power"); ok {
		t.Fatal("SetStatus(null) did not delete")
	}
}

func TestDebugRefCounted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	var mu sync.Mutex
	var got1, got2 []string
	// A listener registered before the module starts is honoured when it starts.
	cancel1 := f.sup.Debug("mod-a", func(level, msg string) { mu.Lock(); got1 = append(got1, level+":"+msg); mu.Unlock() })
	f.start(t, testModule("mod-a", `{}`))
	cancel2 := f.sup.Debug("mod-a", func(level, msg string) { mu.Lock(); got2 = append(got2, msg); mu.Unlock() })

	if on := f.exec(t, "mod-a", "log", "one"); on != "true" {
		t.Fatal("debug forwarding is off with two listeners")
	}
	cancel1()
	cancel1() // idempotent
	if on := f.exec(t, "mod-a", "log", "two"); on != "true" {
		t.Fatal("debug forwarding is off with one listener left")
	}
	cancel2()
	if on := f.exec(t, "mod-a", "log", "three"); on != "false" {
		t.Fatal("debug forwarding still on without listeners")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got1, []string{"info:one"}) || !slices.Equal(got2, []string{"one", "two"}) {
		t.Fatalf("listener 1 got %v, listener 2 got %v", got1, got2)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	ctx := context.Background()
	f.start(t, testModule("mod-a", `{"v":1}`))
	f.start(t, testModule("mod-b", `{}`))
	pid := f.pid(t)

	// One process hosts both modules.
	ids, err := f.sup.Info(ctx, f.binary)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"mod-a", "mod-b"}) {
		t.Fatalf("Info = %v", ids)
	}
	if got := f.sup.Loaded()[f.binary]; !slices.Equal(got, []string{"mod-a", "mod-b"}) {
		t.Fatalf("Loaded = %v", got)
	}

	md, err := f.sup.Metadata(ctx, f.binary)
	if err != nil || !strings.Contains(string(md), `"interface"`) {
		t.Fatalf("Metadata = %s, %v", md, err)
	}

	// Starting again with the same config is a no-op; with a new one it is an update.
	f.start(t, testModule("mod-a", `{"v":1}`))
	if n := f.startCount("mod-a"); n != 1 {
		t.Fatalf("OnModuleStart called %d times for an idempotent start", n)
	}
	if err := f.sup.Update(ctx, testModule("mod-a", `{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if got := f.exec(t, "mod-a", "settings"); got != `{"v":2}` {
		t.Fatalf("settings after update = %s", got)
	}

	if err := f.sup.Stop(ctx, "mod-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.execErr(ctx, "mod-a", "echo"); !errors.Is(err, ErrModuleNotRunning) {
		t.Fatalf("exec on a stopped module: %v", err)
	}
	if !testutil.Alive(pid) {
		t.Fatal("process stopped while a module remains")
	}
	if err := f.sup.Stop(ctx, "mod-b"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, pid)
	if _, ok := f.sup.DriverStatus(f.binary); ok {
		t.Fatal("driver still listed after its last module stopped")
	}
	if err := f.sup.Stop(ctx, "mod-b"); !errors.Is(err, ErrModuleNotRunning) {
		t.Fatalf("second stop: %v", err)
	}
}

// TestKillDuringSlowCall is the crash scenario of the issue.
func TestKillDuringSlowCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-a", `{"ip":"10.0.0.5","volume":50}`))
	f.start(t, testModule("mod-b", `{}`))
	var mu sync.Mutex
	var lines []string
	defer f.sup.Debug("mod-a", func(_, msg string) { mu.Lock(); lines = append(lines, msg); mu.Unlock() })()
	pid := f.pid(t)

	done := make(chan error, 1)
	go func() {
		_, err := f.execErr(context.Background(), "mod-a", "slow", 30000)
		done <- err
	}()
	// slow announces itself through the host once the driver is inside the call.
	testutil.Eventually(t, 5*time.Second, "call in flight", func() bool { _, ok := f.host.statusOf("mod-a", "busy"); return ok })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The call would otherwise run into its 20 s deadline (slow takes 30 s) and fail with
	// ErrTimeout: ErrProcessExited shows that the crash was detected while the call was in flight.
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("call in flight did not return after the process was killed")
	}
	if !errors.Is(err, ErrProcessExited) || !errors.Is(err, errkind.Unavailable) {
		t.Fatalf("call failed with %v, want ErrProcessExited", err)
	}

	// The module answers again, in a new process, with its settings.
	if got := f.exec(t, "mod-a", "settings"); got != `{"ip":"10.0.0.5","volume":50}` {
		t.Fatalf("settings after restart = %s", got)
	}
	newPid := f.pid(t)
	if newPid == pid {
		t.Fatal("same pid after restart")
	}
	testutil.WaitGone(t, pid)
	if got := f.exec(t, "mod-b", "echo", 1); got != "[1]" {
		t.Fatalf("mod-b after restart = %s", got)
	}
	if f.startCount("mod-a") != 2 || f.startCount("mod-b") != 2 {
		t.Fatalf("OnModuleStart calls: a=%d b=%d, want 2 each", f.startCount("mod-a"), f.startCount("mod-b"))
	}
	// Debug forwarding came back for the listener.
	if on := f.exec(t, "mod-a", "log", "after restart"); on != "true" {
		t.Fatal("debug forwarding not re-enabled after restart")
	}

	crashes := findLogs(f.logs, "driver process exited")
	if len(crashes) != 1 {
		t.Fatalf("%d crash log lines, want 1", len(crashes))
	}
	c := crashes[0]
	if c["@level"] != "error" || c["driver"] != f.binary || c["pid"] != float64(pid) ||
		c["exit_status"] != "signal: killed" || c["restart_count"] != float64(1) {
		t.Fatalf("crash log line = %v", c)
	}
	if mods, _ := c["modules"].([]any); len(mods) != 2 {
		t.Fatalf("crash log modules = %v", c["modules"])
	}
	st, _ := f.sup.DriverStatus(f.binary)
	if st.LaunchCount != 2 || st.LastExitCode != 137 || st.State != StateRunning || !st.Running {
		t.Fatalf("status after restart = %+v", st)
	}
}

func TestHungProcessIsReplaced(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{
		ProbeInterval: 100 * time.Millisecond,
		ProbeTimeout:  100 * time.Millisecond,
		Env:           func(string) []string { return []string{"TESTDRIVER_HANG_INFO=1"} },
	})
	f.start(t, testModule("mod-a", `{}`))
	pid := f.pid(t)
	testutil.Eventually(t, 10*time.Second, "relaunch of the hung process", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		return st.LaunchCount >= 2 && st.Running
	})
	testutil.WaitGone(t, pid)
	if len(findLogs(f.logs, "driver process unresponsive, killing it")) == 0 {
		t.Fatal("no log line for the hung process")
	}
	if got := f.exec(t, "mod-a", "echo", "x"); got != `["x"]` {
		t.Fatalf("module after relaunch = %s", got)
	}
}

func TestCrashloop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{
		BackoffInitial: 5 * time.Millisecond,
		BackoffMax:     20 * time.Millisecond,
		CrashloopAfter: 3,
		Env:            func(string) []string { return []string{"TESTDRIVER_CRASH_ON_START=1"} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := f.sup.Start(ctx, f.binary, testModule("mod-a", `{}`))
	if !errors.Is(err, ErrRestarting) {
		t.Fatalf("start of a crashing driver: %v, want ErrRestarting", err)
	}
	st, ok := f.sup.DriverStatus(f.binary)
	if !ok || st.State != StateCrashloop || st.LastError == "" || st.Running {
		t.Fatalf("status = %+v", st)
	}
	// Calls fail at once rather than wait out their deadline: a call that waited for the driver
	// would fail only when its deadline passed, with an error wrapping context.DeadlineExceeded.
	if _, err := f.execErr(ctx, "mod-a", "echo"); !errors.Is(err, ErrRestarting) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exec: %v, want ErrRestarting before the call's deadline", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("exec on a crash-looping driver waited out the deadline: %v", ctx.Err())
	}
	// It is still retried.
	testutil.Eventually(t, 10*time.Second, "more relaunch attempts", func() bool {
		return len(findLogs(f.logs, "driver process failed to start")) > 4
	})
}

func TestKillAndChaos(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	if err := f.sup.Kill(f.binary); !errors.Is(err, ErrDriverNotRunning) {
		t.Fatalf("kill of an unknown driver: %v", err)
	}
	f.start(t, testModule("mod-a", `{}`))
	pid := f.pid(t)
	socketDir := socketDirOf(t, pid)
	if err := f.sup.Kill(f.binary); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "relaunch", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		return st.Running && st.PID != pid
	})
	if f.exec(t, "mod-a", "echo") != "[]" {
		t.Fatal("module not answering")
	}
	waitRemoved(t, socketDir) // the SIGKILLed process's, not the relaunch's
	c := findLogs(f.logs, "driver process exited")
	if len(c) != 1 || !strings.Contains(c[0]["reason"].(string), "killed on request") {
		t.Fatalf("crash log = %v", c)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-a", `{}`))
	pid := f.pid(t)
	if _, err := f.sup.Metadata(context.Background(), f.binary); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.sup.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitGone(t, pid)
	if err := f.sup.Start(ctx, f.binary, testModule("mod-b", `{}`)); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
	if _, err := f.sup.Exec(ctx, &pb.ExecRequest{ModuleId: "mod-a"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("exec after close: %v", err)
	}
}

// An execute racing its module's stop (the module moving to another node) never comes back as the
// driver's 404 for a module it no longer has: the module is not running, a retryable error for the
// caller (ErrModuleNotRunning, which the core answers 503).
func TestExecRacingStop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-keep", `{}`)) // keeps the process up while mod-race comes and goes
	for round := range 30 {
		f.start(t, testModule("mod-race", `{}`))
		var wg sync.WaitGroup
		errs := make(chan string, 64)
		go1 := make(chan struct{})
		for range 64 {
			wg.Go(func() {
				<-go1
				resp, err := f.execErr(t.Context(), "mod-race", "echo", round)
				switch {
				case err != nil && !errors.Is(err, ErrModuleNotRunning):
					errs <- err.Error()
				case err == nil && resp.Error != nil:
					errs <- fmt.Sprintf("%d %s: %s", resp.Code, resp.Error.Class, resp.Error.Message)
				}
			})
		}
		close(go1)
		if err := f.sup.Stop(t.Context(), "mod-race"); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatalf("round %d: an execute racing the stop answered %s", round, e)
		}
	}
}

// TestDebugLevelIsTheProtocols: a debug line's level is one of the five the protocol names
// (docs/protocol.md §5.4), whatever the driver sends: it reached every debug watcher (and another
// node's, over the cluster port) as the driver wrote it, unscrubbed, while only the message was
// scrubbed of the node's protected values — a driver putting a value (or megabytes) there had it
// shown to a support watcher whatever the value's level.
func TestDebugLevelIsTheProtocols(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Scrub: func(_, text string) string { return strings.ReplaceAll(text, "hunter2", "[redacted]") }})
	f.start(t, testModule("mod-a", `{}`))
	var mu sync.Mutex
	var got []string
	defer f.sup.Debug("mod-a", func(level, msg string) { mu.Lock(); got = append(got, level+":"+msg); mu.Unlock() })()
	for _, level := range []string{"WARN", "warning", "Error", "trace", "debug", "info", "password=hunter2", strings.Repeat("x", 1<<20)} {
		if on := f.exec(t, "mod-a", "log", "line hunter2", level); on != "true" {
			t.Fatal("debug forwarding is off")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"warn", "warn", "error", "trace", "debug", "info", "info", "info"}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i, line := range got {
		if line != want[i]+":line [redacted]" {
			t.Errorf("line %d reached the watcher as %.80q, want %q", i, line, want[i]+":line [redacted]")
		}
	}
}

// TestCutLogLineKeepsNoPartOfAValue: a driver's line longer than maxLogLine is cut, and a
// protected value that straddled the cut was looked for only in what was kept: its first bytes
// went to the node's log, an hclog line (which no longer parses) at DEBUG, a line on the driver's
// os.Stderr at WARN. The engine made that part of the value, not the driver; a value up to
// cutSlack long is now whole when it is looked for.
func TestCutLogLineKeepsNoPartOfAValue(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-0123456789abcdefghijklmnopqrstuvwxyz"
	f := newFixture(t, Config{Scrub: func(_, text string) string { return strings.ReplaceAll(text, secret, "[redacted]") }})
	f.start(t, testModule("mod-a", `{}`))
	// The cut falls in the middle of the value, whatever the hclog line's opening (under 20
	// bytes off the 29 of {"@level":"info","@message":").
	for how, pad := range map[string]int{"print": maxLogLine - len(secret)/2, "log": maxLogLine - 29 - len(secret)/2} {
		f.exec(t, "mod-a", "long_line", how, pad, secret)
		f.exec(t, "mod-a", "long_line", how, 10, secret+" "+how+" done") // a line after it: the long one was read
	}
	testutil.Eventually(t, 10*time.Second, "the lines after the long ones logged", func() bool {
		return strings.Contains(f.logs.String(), "[redacted] print done") && strings.Contains(f.logs.String(), "[redacted] log done")
	})
	if logs := f.logs.String(); strings.Contains(logs, secret[:8]) {
		i := strings.Index(logs, secret[:8])
		t.Fatalf("the node's log holds part of the value: …%s…", logs[max(0, i-20):min(len(logs), i+40)])
	}
	if !strings.Contains(f.logs.String(), "xxxxxxxx") {
		t.Fatal("the long lines were not logged at all")
	}
}
