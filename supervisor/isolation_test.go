package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/metrics"
	pb "github.com/placeos-go/engine/plugin/proto"
)

const badDriverPkg = "internal/baddriver"

// badModule is a module of the misbehaving driver doing mode.
func badModule(id, mode string) *pb.Module {
	return &pb.Module{Id: id, DriverId: "drv-bad", Name: "Bad", Role: "logic", SettingsJson: []byte(`{"mode":"` + mode + `"}`)}
}

// isolation is a fixture with a healthy test-driver module and the misbehaving driver's binary.
type isolation struct {
	*fixture
	bad string
}

func newIsolation(t *testing.T, cfg Config) *isolation {
	t.Helper()
	f := newFixture(t, cfg)
	f.start(t, testModule("healthy", `{}`))
	return &isolation{fixture: f, bad: testutil.BuildBinary(t, badDriverPkg)}
}

func (f *isolation) startBad(t *testing.T, binary string, m *pb.Module) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := f.sup.Start(ctx, binary, m); err != nil {
		t.Fatalf("start %s: %v", m.Id, err)
	}
}

// healthyAnswers fails the test unless the healthy module still answers.
func (f *isolation) healthyAnswers(t *testing.T) {
	t.Helper()
	if got := f.exec(t, "healthy", "echo", "still here"); got != `["still here"]` {
		t.Fatalf("healthy module answered %s", got)
	}
}

// children is the driver process of module id and the two children it forked.
func (f *isolation) children(t *testing.T, id string) []int {
	t.Helper()
	var pids []int
	if err := json.Unmarshal([]byte(f.exec(t, id, "children")), &pids); err != nil || len(pids) != 2 {
		t.Fatalf("children of %s: %v %v", id, pids, err)
	}
	var pid int
	_ = json.Unmarshal([]byte(f.exec(t, id, "pid")), &pid)
	for _, c := range pids {
		if !testutil.Alive(c) {
			t.Fatalf("child %d of %s is not running", c, id)
		}
	}
	return append(pids, pid)
}

// Every way a driver process ends leaves nothing it started running: its child in its process group
// and its child in a session of its own (both holding its stderr), while a healthy module of
// another driver keeps answering.
func TestNothingLeftBehind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		end  func(t *testing.T, f *isolation, binary string)
	}{
		{name: "crash", end: func(t *testing.T, f *isolation, _ string) {
			_, _ = f.execErr(t.Context(), "bad", "crash", 3)
		}},
		{name: "hang kill", cfg: Config{ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 100 * time.Millisecond},
			end: func(t *testing.T, f *isolation, binary string) {
				f.startBad(t, binary, badModule("deaf", "hang"))
			}},
		{name: "stop", end: func(t *testing.T, f *isolation, _ string) {
			if err := f.sup.Stop(t.Context(), "bad"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "move", end: func(t *testing.T, f *isolation, _ string) {
			other := filepath.Join(t.TempDir(), "baddriver-next")
			if err := os.Link(f.bad, other); err != nil {
				t.Fatal(err)
			}
			if err := f.sup.Move(t.Context(), other, badModule("bad", "healthy")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "shutdown", end: func(t *testing.T, f *isolation, _ string) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := f.sup.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newIsolation(t, tc.cfg)
			// Each case its own path: the hang case's probe must not see another case's process.
			binary := filepath.Join(t.TempDir(), "baddriver")
			if err := os.Link(f.bad, binary); err != nil {
				t.Fatal(err)
			}
			f.startBad(t, binary, badModule("bad", "fork"))
			procs := f.children(t, "bad")
			socketDir := socketDirOf(t, procs[len(procs)-1])
			tc.end(t, f, binary)
			testutil.WaitGone(t, procs...)
			waitRemoved(t, socketDir)
			if tc.name != "shutdown" {
				f.healthyAnswers(t)
			}
		})
	}
}

// A driver that allocates without bound dies at its memory limit, is logged as such and
// relaunched; the healthy module never notices, and Go drivers get the GOMEMLIMIT hint.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	const limit = 256 << 20
	m := metrics.New()
	f := newIsolation(t, Config{Metrics: m, MemoryLimit: func(string) int64 { return limit }})
	if got := f.exec(t, "healthy", "env", "GOMEMLIMIT"); got != `"241591905"` { // 90 % of 256 MiB, as Go reads it
		t.Fatalf("GOMEMLIMIT in the driver = %s", got)
	}
	// The kernel's side: the limit and the OOM score are on the process.
	pid := f.pid(t)
	if got := strings.TrimSpace(testutil.ReadFile(t, fmt.Sprintf("/proc/%d/oom_score_adj", pid))); got != "500" {
		t.Fatalf("oom_score_adj of the driver = %s, want 500 (above the engine's)", got)
	}
	if limits := testutil.ReadFile(t, fmt.Sprintf("/proc/%d/limits", pid)); !regexp.MustCompile(`Max data size\s+268435456\s+268435456`).MatchString(limits) {
		t.Fatalf("RLIMIT_DATA not set:\n%s", limits)
	}
	f.startBad(t, f.bad, badModule("hog", "alloc"))
	testutil.Eventually(t, 20*time.Second, "the out-of-memory death logged", func() bool {
		return len(findLogs(f.logs, "driver killed: out of memory (limit 256MiB)")) > 0
	})
	st, _ := f.sup.DriverStatus(f.bad)
	if !strings.Contains(st.LastError, "out of memory (limit 256MiB)") {
		t.Fatalf("last_error = %q", st.LastError)
	}
	if out := scrapeMetrics(t, m); !strings.Contains(out, `engine_driver_out_of_memory_total{driver="`+metrics.DriverName(f.bad)+`"}`) {
		t.Fatalf("no out-of-memory count:\n%s", grep(out, "engine_driver_out_of_memory"))
	}
	f.healthyAnswers(t)
	if err := f.sup.Stop(t.Context(), "hog"); err != nil {
		t.Fatal(err)
	}
}

// A driver that crash-loops is not relaunched once its last module stopped, nor once a move to
// it failed; the module stays on the binary it had.
func TestCrashLoopEndsWithLastModule(t *testing.T) {
	t.Parallel()
	// Paths of this test's own, so that other tests' processes are not counted.
	dir := t.TempDir()
	crashing, failing := filepath.Join(dir, "crashing"), filepath.Join(dir, "failing")
	f := newIsolation(t, Config{BackoffInitial: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, CallTimeout: 5 * time.Second,
		Env: func(b string) []string {
			if b == failing {
				return []string{"TESTDRIVER_CRASH_ON_START=1"}
			}
			return nil
		}})
	for path, from := range map[string]string{crashing: f.bad, failing: f.binary} {
		if err := os.Link(from, path); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_ = f.sup.Start(ctx, crashing, badModule("looping", "crash_loop")) // may fail: the process dies as the start is answered
	testutil.Eventually(t, 20*time.Second, "a crash loop", func() bool {
		st, _ := f.sup.DriverStatus(crashing)
		return st.RestartCount >= 3
	})
	if err := f.sup.Stop(t.Context(), "looping"); err != nil {
		t.Fatal(err)
	}
	if st, ok := f.sup.DriverStatus(crashing); ok {
		t.Fatalf("driver still there after its last module stopped: %+v", st)
	}
	testutil.WaitGone(t, testutil.ChildrenRunning(crashing)...)

	// A move to a binary that cannot start fails, and that binary is not kept relaunching.
	f.startBad(t, f.bad, badModule("mover", "healthy"))
	mctx, mcancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer mcancel()
	if err := f.sup.Move(mctx, failing, testModule("mover", `{}`)); err == nil {
		t.Fatal("move to a binary that cannot start succeeded")
	}
	testutil.Eventually(t, 20*time.Second, "the move's target retired", func() bool {
		_, ok := f.sup.DriverStatus(failing)
		return !ok && len(testutil.ChildrenRunning(failing)) == 0
	})
	if got := f.exec(t, "mover", "echo", 1); got != `[1]` {
		t.Fatalf("moved module answered %s on its old binary", got)
	}
	f.healthyAnswers(t)
}

// A log flood is cut to the rate limit: the lines over it are dropped, said in one line per
// module and counted; plain stderr lines reach the log at WARN, limited alike.
func TestLogFloodDropped(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	f := newIsolation(t, Config{Metrics: m, LogRate: 50, LogBurst: 50, logReportAfter: 200 * time.Millisecond})
	f.startBad(t, f.bad, badModule("chatty", "log_flood"))
	f.startBad(t, f.bad, badModule("noisy", "stderr_flood"))
	began := time.Now()
	dropped := func(mod string) bool {
		for _, e := range findLogs(f.logs, "driver log lines dropped: over the rate limit") {
			if m, _ := e["module"].(string); m == mod && e["dropped"].(float64) > 0 {
				return true
			}
		}
		return false
	}
	testutil.Eventually(t, 20*time.Second, "the dropped lines reported", func() bool {
		return dropped("chatty") && dropped("")
	})
	f.healthyAnswers(t)
	if err := f.sup.Stop(t.Context(), "chatty"); err != nil {
		t.Fatal(err)
	}
	if err := f.sup.Stop(t.Context(), "noisy"); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(began).Seconds()
	// The burst, then the rate, per bucket (the module's, and the driver's for plain lines).
	bound := int(2 * (50 + 50*(elapsed+1)))
	flood := len(findLogs(f.logs, "flood line"))
	plain := 0
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, "plain stderr flood line") && strings.Contains(line, `"@level":"warn"`) {
			plain++
		}
	}
	if flood == 0 || plain == 0 || flood+plain > bound {
		t.Fatalf("%d flood lines and %d plain lines logged in %.1fs; want some, at most %d", flood, plain, elapsed, bound)
	}
	out := scrapeMetrics(t, m)
	if !strings.Contains(out, `engine_driver_log_lines_dropped_total{driver="`+metrics.DriverName(f.bad)+`"}`) {
		t.Fatalf("no dropped-lines count:\n%s", grep(out, "engine_driver_log"))
	}
}

// The status says how the previous process ended: its exit code, or the signal that killed it,
// also for a process that exits before its handshake.
func TestExitCodesAndSignals(t *testing.T) {
	t.Parallel()
	f := newIsolation(t, Config{})
	f.startBad(t, f.bad, badModule("bad", "healthy"))
	wait := func(what string, code int, signal string) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, what, func() bool {
			st, _ := f.sup.DriverStatus(f.bad)
			return st.Running && st.LaunchCount >= 2 && st.LastExitCode == code && st.LastExitSignal == signal
		})
	}
	_, _ = f.execErr(t.Context(), "bad", "crash", 1)
	wait("exit 1 in status", 1, "")
	if err := f.sup.Kill(f.bad); err != nil {
		t.Fatal(err)
	}
	wait("SIGKILL in status", 137, "SIGKILL")

	crashing := newFixture(t, Config{Env: func(string) []string { return []string{"TESTDRIVER_CRASH_ON_START=1"} }})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_ = crashing.sup.Start(ctx, crashing.binary, testModule("never", `{}`))
	st, _ := crashing.sup.DriverStatus(crashing.binary)
	if st.LastExitCode != 2 || !strings.Contains(st.LastError, "exit status 2") {
		t.Fatalf("a process that exits 2 before its handshake: %+v", st)
	}
	if err := crashing.sup.Stop(t.Context(), "never"); err != nil {
		t.Fatal(err)
	}
}

// A relaunched process whose binary was rebuilt at the same path has its metadata read again
// and handed on, so its new functions can be called without restarting the module.
func TestMetadataReadOnRelaunch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	f := newIsolation(t, Config{OnMetadata: func(_ context.Context, _ string, mods []string, meta []byte) {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(string(meta), `"driver": "testdriver"`) {
			got = mods
		}
	}})
	binary := filepath.Join(t.TempDir(), "driver")
	if err := os.Link(f.bad, binary); err != nil {
		t.Fatal(err)
	}
	f.startBad(t, binary, badModule("rebuilt", "healthy"))
	// The "rebuild": another binary renamed over the path, as a build does.
	next := filepath.Join(filepath.Dir(binary), "next")
	if err := os.Link(f.binary, next); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, binary); err != nil {
		t.Fatal(err)
	}
	_, _ = f.execErr(t.Context(), "rebuilt", "crash", 3)
	testutil.Eventually(t, 10*time.Second, "the new metadata handed on", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == "rebuilt"
	})
	if got := f.exec(t, "rebuilt", "support_only"); got != `"support_only"` {
		t.Fatalf("the rebuilt driver's function answered %s", got)
	}
}

// A driver function that never returns costs its caller the call's deadline and nothing more:
// the healthy module and the blocked driver's other calls answer meanwhile.
func TestBlockedFunction(t *testing.T) {
	t.Parallel()
	f := newIsolation(t, Config{})
	f.startBad(t, f.bad, badModule("stuck", "healthy"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	blocked := make(chan error, 1)
	go func() {
		_, err := f.execErr(ctx, "stuck", "block")
		blocked <- err
	}()
	f.healthyAnswers(t)
	if got := f.exec(t, "stuck", "echo", 1); got != `[1]` {
		t.Fatalf("the blocked driver's other call answered %s", got)
	}
	select {
	case err := <-blocked:
		t.Fatalf("the blocked call ended before its deadline: %v", err)
	default:
	}
	if err := <-blocked; !errors.Is(err, ErrTimeout) {
		t.Fatalf("blocked call: %v, want %v", err, ErrTimeout)
	}
}

// A driver whose metadata is more than MaxMetadata (written to Redis once per module) gets no
// module started: the start's error says why, and the healthy module answers on.
func TestMetadataTooLarge(t *testing.T) {
	t.Parallel()
	f := newIsolation(t, Config{})
	binary := filepath.Join(t.TempDir(), "baddriver-bigmeta")
	if err := os.Link(f.bad, binary); err != nil {
		t.Fatal(err)
	}
	f.startBad(t, binary, badModule("big", "healthy"))
	_, err := f.sup.Metadata(t.Context(), binary)
	if !errors.Is(err, ErrMetadataTooLarge) || !strings.Contains(err.Error(), "more than the 1048576 the engine takes") {
		t.Fatalf("metadata of a driver answering 2 MiB: %v, want ErrMetadataTooLarge saying the bound", err)
	}
	f.healthyAnswers(t)
}

// A driver's log message, field names and plain stderr lines reach the engine's log as one line
// each, with their line breaks and escape sequences escaped: hclog writes a message and a field
// name as they are (only values are quoted), and a line break there would forge a line that
// reads as the engine's own ("[ERROR] engine.auth: …").
func TestDriverLogLinesCannotForgeLines(t *testing.T) {
	t.Parallel()
	f := newIsolation(t, Config{})
	f.startBad(t, f.bad, badModule("forger", "log_forge"))
	var msg, plain string
	testutil.Eventually(t, 20*time.Second, "the driver's two lines logged", func() bool {
		for _, line := range strings.Split(f.logs.String(), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(line), &e) != nil {
				continue
			}
			m, _ := e["@message"].(string)
			switch {
			case strings.HasPrefix(m, "forged message"):
				msg = m
				for k := range e {
					if strings.HasPrefix(k, "forged key") {
						msg += " | key: " + k
					}
				}
			case strings.HasPrefix(m, "forged plain"):
				plain = m
			}
		}
		return msg != "" && plain != ""
	})
	for _, got := range []string{msg, plain} {
		if strings.ContainsAny(got, "\n\r\x1b") {
			t.Errorf("logged with its control characters: %q", got)
		}
	}
	want := `forged message\n2026-12-05T23:00:00.000Z [ERROR] engine.auth: forged line\x1b[2J | key: forged key\n2026-12-05T23:00:00.000Z [ERROR] engine.auth: forged`
	if msg != want {
		t.Errorf("the message and key logged as %q, want %q", msg, want)
	}
	if want := `forged plain\x1b[31m red\r over`; plain != want {
		t.Errorf("the plain line logged as %q, want %q", plain, want)
	}
}
