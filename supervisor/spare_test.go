package supervisor

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// spareWait bounds how long a test waits for a spare to be launched or to take over.
const spareWait = 20 * time.Second

// awaitSpare waits for the driver to have a spare other than those in not, and returns its pid.
func (f *fixture) awaitSpare(t *testing.T, not ...int) int {
	t.Helper()
	var pid int
	testutil.Eventually(t, spareWait, "a spare driver process", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		pid = st.SparePID
		for _, n := range not {
			if pid == n {
				return false
			}
		}
		return pid != 0
	})
	return pid
}

// answersFrom waits until every module answers from process pid.
func (f *fixture) answersFrom(t *testing.T, pid int, mods ...string) {
	t.Helper()
	for _, mod := range mods {
		testutil.Eventually(t, spareWait, mod+" answering from process "+strconv.Itoa(pid), func() bool {
			resp, err := f.execErr(t.Context(), mod, "pid")
			return err == nil && resp.Error == nil && string(resp.ResultJson) == strconv.Itoa(pid)
		})
	}
}

// A driver whose process has run StableAfter gets a spare; when the process is killed, the spare
// takes its modules over (no new process is started for them), and once it has run StableAfter
// in its turn the driver gets a new spare.
func TestSpareTakesOver(t *testing.T) {
	f := newFixture(t, Config{Spare: true, StableAfter: 200 * time.Millisecond})
	mods := []string{"mod-a", "mod-b", "mod-c"}
	for _, id := range mods {
		f.start(t, testModule(id, `{}`))
	}
	first := f.pid(t)
	spare := f.awaitSpare(t)
	if spare == first {
		t.Fatalf("spare pid %d is the driver's process", spare)
	}
	if got := f.exec(t, "mod-a", "pid"); got != strconv.Itoa(first) {
		t.Fatalf("mod-a answered from %s before the kill, want %d: a spare must not serve", got, first)
	}

	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.answersFrom(t, spare, mods...)
	st, _ := f.sup.DriverStatus(f.binary)
	if st.PID != spare || st.RestartCount != 1 || !st.Running {
		t.Fatalf("status after the takeover = %+v, want pid %d running with restart_count 1", st, spare)
	}
	var tookOver bool
	for _, e := range findLogs(f.logs, "driver process started") {
		if e["pid"] == float64(spare) && e["spare"] == true {
			tookOver = true
		}
	}
	if !tookOver {
		t.Fatalf("no 'driver process started' line with spare=true for pid %d:\n%s", spare, f.logs.String())
	}
	testutil.WaitGone(t, first)
	f.awaitSpare(t, first, spare)
}

// A crash loop uses at most one spare: the process that took over has not run StableAfter (its
// run counts from the takeover, not from its launch as a spare), so a second crash relaunches as
// before, with backoff.
func TestSpareOncePerCrashLoop(t *testing.T) {
	// Long enough for the test to kill the process that took over before it has run it, on a
	// loaded machine too.
	const stable = 2 * time.Second
	f := newFixture(t, Config{Spare: true, StableAfter: stable})
	f.start(t, testModule("mod-a", `{}`))
	first := f.pid(t)
	spare := f.awaitSpare(t)
	spareSeen := time.Now()
	// The spare waits a while before it takes over, so that its uptime tells which start counts.
	const idle = 300 * time.Millisecond
	testutil.Eventually(t, spareWait, "the spare idle for "+idle.String(), func() bool { return time.Since(spareSeen) > idle })
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.answersFrom(t, spare, "mod-a")
	if err := syscall.Kill(spare, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var third int
	testutil.Eventually(t, spareWait, "a third process", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		third = st.PID
		return st.Running && third != first && third != spare
	})
	st, _ := f.sup.DriverStatus(f.binary)
	if st.RestartCount != 2 || st.SparePID != 0 {
		t.Fatalf("status after the second crash = %+v, want restart_count 2 and no spare", st)
	}
	for _, e := range findLogs(f.logs, "driver process started") {
		if e["pid"] == float64(third) && e["spare"] != false {
			t.Fatalf("the third process is logged as a spare: %v", e)
		}
	}
	exits := 0
	for _, e := range findLogs(f.logs, "driver process exited") {
		if e["pid"] != float64(spare) {
			continue
		}
		exits++
		// Counted from its take-over, the uptime ends at this line and began idle or more after
		// the spare was seen; counted from its launch, it would be longer than that by idle or more.
		// (Measured up to the line itself: the exit is read a moment after the kill, which under
		// load was later than the test looked at the clock.)
		uptime, err := time.ParseDuration(e["uptime"].(string))
		at, terr := time.Parse(time.RFC3339Nano, e["@timestamp"].(string))
		if err != nil || terr != nil {
			t.Fatalf("the exit line's uptime or time: %v %v (%v)", err, terr, e)
		}
		const rounding = 2 * time.Millisecond // the line's time and the uptime are in milliseconds
		if seen := at.Sub(spareSeen); uptime > seen-idle+rounding {
			t.Fatalf("the spare's uptime %v counts from its launch: it was seen %v before its exit line and idle %v", uptime, seen, idle)
		}
	}
	if exits != 1 {
		t.Fatalf("%d 'driver process exited' lines for the spare %d, want 1", exits, spare)
	}
}

// A spare that exits, or stops answering the probe, is logged and replaced; the driver's
// process is not touched.
func TestSpareLostIsReplaced(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal syscall.Signal
		reason string
	}{
		// The reason reads as the driver process's exit line's does: the exit status, after the
		// engine's own reason when it killed the spare.
		{"killed", syscall.SIGKILL, "signal: killed"},
		{"frozen", syscall.SIGSTOP, "unresponsive spare: Info probe got no answer within 300ms (signal: killed)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond,
				ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond})
			f.start(t, testModule("mod-a", `{}`))
			active := f.pid(t)
			spare := f.awaitSpare(t)
			if err := syscall.Kill(spare, tc.signal); err != nil {
				t.Fatal(err)
			}
			next := f.awaitSpare(t, spare)
			testutil.WaitGone(t, spare)
			lines := findLogs(f.logs, spareExited)
			if len(lines) != 1 || lines[0]["pid"] != float64(spare) || lines[0]["reason"] != tc.reason || lines[0]["@level"] != "warn" {
				t.Fatalf("want one WARN for spare %d with reason %q, got %v", spare, tc.reason, lines)
			}
			st, _ := f.sup.DriverStatus(f.binary)
			if st.PID != active || st.RestartCount != 0 || next == active {
				t.Fatalf("status = %+v: the driver's process %d must be untouched", st, active)
			}
			if got := f.exec(t, "mod-a", "pid"); got != strconv.Itoa(active) {
				t.Fatalf("mod-a answered from %s, want %d", got, active)
			}
		})
	}
}

// A spare launched before the driver's memory limit changed, or before its binary was replaced
// on disk, is not used: those apply from the driver's next launch. It is stopped, and a new
// process is launched instead.
func TestSpareUnfitIsNotUsed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(f *fixture, limit *atomic.Int64)
		why    string
	}{
		{"memory limit", func(_ *fixture, limit *atomic.Int64) { limit.Store(300 << 20) },
			"spare driver process not used: the driver's memory limit changed since its launch"},
		{"binary replaced", func(f *fixture, _ *atomic.Int64) {
			data, err := os.ReadFile(f.binary)
			if err != nil {
				t.Fatal(err)
			}
			replaceBinary(t, f.binary, data) // the same content in a new file: what runs is not the file
		},
			"spare driver process not used: the binary was replaced on disk since its launch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var limit atomic.Int64
			limit.Store(256 << 20)
			// The probe would notice a replaced binary and reload it first: not in this test.
			f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond, ProbeInterval: time.Hour,
				MemoryLimit: func(string) int64 { return limit.Load() }})
			f.binary = copyBinary(t, f.binary)
			f.start(t, testModule("mod-a", `{}`))
			first := f.pid(t)
			spare := f.awaitSpare(t)
			tc.change(f, &limit)
			if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			testutil.WaitGone(t, spare)
			var next int
			testutil.Eventually(t, spareWait, "a new process", func() bool {
				st, _ := f.sup.DriverStatus(f.binary)
				next = st.PID
				return st.Running && next != first
			})
			if next == spare {
				t.Fatalf("the unfit spare %d took over", spare)
			}
			f.answersFrom(t, next, "mod-a")
			if lines := findLogs(f.logs, tc.why); len(lines) != 1 || lines[0]["pid"] != float64(spare) {
				t.Fatalf("want one line %q for pid %d, got %v", tc.why, spare, lines)
			}
		})
	}
}

// A spare goes with its driver: when the driver's last module stops, and when the supervisor
// closes.
func TestSpareStoppedWithDriver(t *testing.T) {
	t.Run("last module stopped", func(t *testing.T) {
		f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond})
		f.start(t, testModule("mod-a", `{}`))
		active := f.pid(t)
		spare := f.awaitSpare(t)
		if err := f.sup.Stop(t.Context(), "mod-a"); err != nil {
			t.Fatal(err)
		}
		testutil.WaitGone(t, active, spare)
	})
	t.Run("close", func(t *testing.T) {
		f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond})
		f.start(t, testModule("mod-a", `{}`))
		active := f.pid(t)
		spare := f.awaitSpare(t)
		if err := f.sup.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if testutil.Alive(active) || testutil.Alive(spare) {
			t.Fatalf("Close returned with process %d alive %v, spare %d alive %v", active, testutil.Alive(active), spare, testutil.Alive(spare))
		}
	})
}

// A spare that cannot launch beside the driver's process — its main takes a fixed port the
// process holds — is logged with the driver's stderr and where DRIVERS.md says what to do, and
// tried again; the driver's process is not touched.
func TestSpareLaunchFailureSaysWhy(t *testing.T) {
	addr := testutil.FreeAddr(t)
	f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond,
		Env: func(string) []string { return []string{"TESTDRIVER_LISTEN=" + addr} }})
	f.start(t, testModule("mod-a", `{}`))
	active := f.pid(t)
	testutil.Eventually(t, spareWait, "a spare failing its launch twice", func() bool {
		return len(findLogs(f.logs, spareLaunchFailedAgain)) >= 1
	})
	line := findLogs(f.logs, spareLaunchFailed)[0]
	if e, _ := line["error"].(string); !strings.Contains(e, "address already in use") || line["@level"] != "warn" {
		t.Fatalf("want a WARN quoting the driver's stderr, got %v", line)
	}
	if h, _ := line["hint"].(string); !strings.Contains(h, "before sdk.Serve") || !strings.Contains(h, "DRIVERS.md") {
		t.Fatalf("want a hint naming what main does before sdk.Serve and DRIVERS.md, got %v", line)
	}
	st, _ := f.sup.DriverStatus(f.binary)
	if st.PID != active || st.SparePID != 0 || st.RestartCount != 0 {
		t.Fatalf("status = %+v: the driver's process %d must be untouched, with no spare", st, active)
	}
	if !strings.HasPrefix(st.SpareError, "launch failed: ") || !strings.Contains(st.SpareError, "address already in use") {
		t.Fatalf("spare_error = %q, want why the spare does not launch", st.SpareError)
	}
}

// A spare that froze just before the driver's process died is taken over as it is; the process
// probe must find it while its modules' starts hang in it, not after the metadata read that
// follows them waits the whole CallTimeout: the modules answer again from a third process.
func TestFrozenSpareTakenOverIsReplaced(t *testing.T) {
	// ProbeTimeout outlasts the two signals below, so the spare's own probe cannot find it frozen
	// first (the line checked below says whether the frozen spare was taken); CallTimeout is far
	// beyond the test's wait.
	f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond, CallTimeout: 10 * time.Minute,
		ProbeInterval: 100 * time.Millisecond, ProbeTimeout: time.Second})
	f.start(t, testModule("mod-a", `{}`))
	active := f.pid(t)
	spare := f.awaitSpare(t)
	if err := syscall.Kill(spare, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(active, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var third int
	testutil.Eventually(t, spareWait, "mod-a answering from a process other than the dead one and the frozen spare", func() bool {
		st, _ := f.sup.DriverStatus(f.binary)
		if st.PID == 0 || st.PID == active || st.PID == spare {
			return false
		}
		resp, err := f.execErr(t.Context(), "mod-a", "pid")
		third = st.PID
		return err == nil && resp.Error == nil && string(resp.ResultJson) == strconv.Itoa(st.PID)
	})
	var taken bool
	for _, e := range findLogs(f.logs, "driver process started") {
		taken = taken || e["pid"] == float64(spare) && e["spare"] == true
	}
	if !taken {
		t.Fatalf("the frozen spare %d was not taken over (its own probe found it first?); process %d serves:\n%s", spare, third, f.logs.String())
	}
	testutil.WaitGone(t, active, spare)
}

// A process that hangs as its driver stops — a frozen spare, or a frozen driver process, frozen
// before it answers Terminate or (the signal arriving late) after — is killed: go-plugin's
// graceful close, which waits with no deadline for an answer such a process never gives, must
// not hold the stop (the engine's stop ran out of time, and left the pid file behind).
func TestFrozenProcessStoppedOnClose(t *testing.T) {
	for _, which := range []string{"spare", "process"} {
		t.Run(which, func(t *testing.T) {
			run := t.TempDir()
			f := newFixture(t, Config{Spare: true, StableAfter: 100 * time.Millisecond, RunDir: run})
			f.start(t, testModule("mod-a", `{}`))
			active := f.pid(t)
			spare := f.awaitSpare(t)
			frozen := spare
			if which == "process" {
				frozen = active
			}
			if err := syscall.Kill(frozen, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), spareWait)
			defer cancel()
			if err := f.sup.Close(ctx); err != nil {
				t.Fatalf("close with the %s %d frozen: %v\n%s", which, frozen, err, f.logs.String())
			}
			testutil.WaitGone(t, active, spare)
			if left, _ := os.ReadDir(run); len(left) != 0 {
				t.Fatalf("pid files left after the stop: %v", left)
			}
		})
	}
}

// A spare that keeps failing backs off: its tries wait StableAfter, then twice as long each
// time up to SpareBackoffMax. The first failure is a WARN with why; each repeat one INFO line
// with the next try's time, and nothing else above DEBUG (the spare's own stderr lines are in
// the launch's error). The count starts over when the driver's environment changes (the next try
// comes at once) and once a spare has been ready for StableAfter; spare_error says why there is
// no spare throughout.
func TestSpareFailingBacksOff(t *testing.T) {
	const stable = 50 * time.Millisecond
	var addr atomic.Value
	addr.Store(testutil.FreeAddr(t))
	f := newFixture(t, Config{Spare: true, StableAfter: stable, SpareBackoffMax: 4 * stable,
		ProbeInterval: stable, Env: func(string) []string { return []string{"TESTDRIVER_LISTEN=" + addr.Load().(string)} }})
	f.start(t, testModule("mod-a", `{}`))
	active := f.pid(t)

	// Each try of the spare writes the test driver's "address already in use" to stderr once.
	tries := func() int {
		n := 0
		for _, e := range f.logs.Entries("stream", "stderr") {
			if m, _ := e["@message"].(string); e["spare_launch"] == true && strings.Contains(m, "address already in use") {
				n++
			}
		}
		return n
	}
	testutil.Eventually(t, spareWait, "six failed tries of the spare", func() bool {
		return len(findLogs(f.logs, spareLaunchFailedAgain)) >= 5
	})
	// One line per try: the lines before and after counting the tries are the same (no try
	// ended in between), and the try after the last line may be under way.
	testutil.Eventually(t, spareWait, "the tries and failure lines counted between two tries", func() bool {
		before := len(findLogs(f.logs, spareLaunchFailedAgain))
		n := tries()
		if after := len(findLogs(f.logs, spareLaunchFailedAgain)); after != before {
			return false
		}
		if n != 1+before && n != 2+before {
			t.Fatalf("%d tries of the spare for %d failure lines: a failure went unlogged or was logged twice", n, 1+before)
		}
		return true
	})
	first, again := findLogs(f.logs, spareLaunchFailed), findLogs(f.logs, spareLaunchFailedAgain)
	if len(first) != 1 || first[0]["@level"] != "warn" || first[0]["failures"] != float64(1) || first[0]["retry_in"] != stable.String() {
		t.Fatalf("want one WARN for the first failure, retried after %s, got %v", stable, first)
	}
	if h, _ := first[0]["hint"].(string); !strings.Contains(h, "DRIVERS.md") {
		t.Fatalf("the first failure has no hint: %v", first[0])
	}
	// Doubling from the stable time, up to the cap.
	want := []time.Duration{2 * stable, 4 * stable, 4 * stable, 4 * stable}
	for i, w := range want {
		e := again[i]
		if e["@level"] != "info" || e["failures"] != float64(i+2) || e["retry_in"] != w.String() || e["hint"] != nil {
			t.Fatalf("repeat %d = %v, want INFO with failures %d, retry_in %s and no hint", i+1, e, i+2, w)
		}
		if e["next_try"] == nil {
			t.Fatalf("repeat %d does not say when the next try is: %v", i+1, e)
		}
		if err, _ := e["error"].(string); !strings.Contains(err, "address already in use") {
			t.Fatalf("repeat %d does not say why: %v", i+1, e)
		}
	}
	// The first failure's WARN is the only line above INFO.
	if warns, errs := f.logs.Entries("@level", "warn"), f.logs.Entries("@level", "error"); len(warns) != 1 || len(errs) != 0 {
		t.Fatalf("lines above INFO while the spare backs off: %v %v", warns, errs)
	}
	st, _ := f.sup.DriverStatus(f.binary)
	if st.PID != active || st.SparePID != 0 || !strings.HasPrefix(st.SpareError, "launch failed: ") || !strings.Contains(st.SpareError, "address already in use") {
		t.Fatalf("status = %+v: want process %d untouched, no spare and spare_error saying why", st, active)
	}

	// The fix: another port, and the spare launches. (The change ends a wait in progress, with
	// a line saying so: TestSparePauseEndsOnChange; one that lands between two tries is seen
	// by the next.)
	addr.Store(testutil.FreeAddr(t))
	spare := f.awaitSpare(t)
	if st, _ := f.sup.DriverStatus(f.binary); st.SpareError != "" {
		t.Fatalf("spare_error = %q with spare %d ready", st.SpareError, spare)
	}
	// Its exit is the first failure since the change: a WARN, retried after the stable time.
	kill := func(pid int) {
		t.Helper()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	kill(spare)
	next := f.awaitSpare(t, spare)
	exits := findLogs(f.logs, spareExited)
	if len(exits) != 1 || exits[0]["failures"] != float64(1) || exits[0]["retry_in"] != stable.String() {
		t.Fatalf("want a WARN for the exit after the change, failures 1 and retry_in %s, got %v", stable, exits)
	}
	// A spare ready for the stable time is no failure in a row: its exit is a WARN again, not
	// the second failure.
	seen := time.Now()
	testutil.Eventually(t, spareWait, "the spare ready for the stable time", func() bool { return time.Since(seen) > stable })
	kill(next)
	f.awaitSpare(t, spare, next)
	exits = findLogs(f.logs, spareExited)
	if len(exits) != 2 || exits[1]["pid"] != float64(next) || exits[1]["failures"] != float64(1) || len(findLogs(f.logs, spareExitedAgain)) != 0 {
		t.Fatalf("want a second WARN with failures 1 for spare %d, got %v and repeats %v", next, exits, findLogs(f.logs, spareExitedAgain))
	}
}

// A change of what a driver's launch takes (here its environment) ends the spare's wait for its
// next try at once, however long that wait, and starts the count over.
func TestSparePauseEndsOnChange(t *testing.T) {
	var env atomic.Value
	env.Store("A=1")
	f := newFixture(t, Config{Spare: true, ProbeInterval: 10 * time.Millisecond,
		Env: func(string) []string { return []string{env.Load().(string)} }})
	d := &driver{s: f.sup, binary: f.binary, log: f.sup.cfg.Logger, stop: make(chan struct{})}
	var b spareBackoff
	b.noteConfig(d)
	b.next(time.Hour, time.Hour)
	ended := make(chan bool, 1)
	go func() { ended <- d.sparePause(&b, time.Hour) }()
	env.Store("A=2")
	select {
	case again := <-ended:
		if !again || b.fails != 0 {
			t.Fatalf("sparePause = %v with %d failures, want true and the count reset", again, b.fails)
		}
	case <-time.After(spareWait):
		close(d.stop)
		t.Fatal("the hour's wait did not end when the driver's environment changed")
	}
	if len(findLogs(f.logs, "driver's configuration changed: its spare is tried again now")) != 1 {
		t.Fatalf("no line saying the change ends the wait:\n%s", f.logs.Tail(5))
	}
}

// The wait after each failure in a row doubles from the stable time up to the cap, and starts
// over after a reset.
func TestSpareBackoffSteps(t *testing.T) {
	var b spareBackoff
	var got []time.Duration
	for range 6 {
		got = append(got, b.next(time.Minute, 30*time.Minute))
	}
	b.reset()
	got = append(got, b.next(time.Minute, 30*time.Minute))
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, time.Minute}
	if !slices.Equal(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
}
