package supervisor

import (
	"bufio"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
)

// scriptDriver writes a shell script as a driver binary.
func scriptDriver(t *testing.T, name, script string) string {
	t.Helper()
	binary := filepath.Join(t.TempDir(), name)
	testutil.WriteScript(t, binary, script)
	return binary
}

// A driver that says why on stderr and exits 3 at launch (the fault report's crashy): the start's
// error and last_error quote its exit status and its last stderr lines, bounded and scrubbed,
// not the protocol hint that sends the operator to its stdout; launch_count counts every
// attempt, as restart_count counts the failed ones; go-plugin's own lines about the dead
// process are not WARN or ERROR.
func TestCrashAtLaunchQuotesStderr(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 2000)
	binary := scriptDriver(t, "crashy",
		"echo 'first line, not among the last three' >&2\n"+
			"echo '"+long+"' >&2\n"+
			"echo 'crashy: password hunter2 refused' >&2\n"+
			"echo 'crashy: cannot open config' >&2\n"+
			"exit 3\n")
	f := newFixture(t, Config{
		BackoffInitial: 20 * time.Millisecond, CrashloopAfter: 3,
		Scrub: func(_, text string) string { return strings.ReplaceAll(text, "hunter2", "******") },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	err := f.sup.Start(ctx, binary, testModule("mod-crashy", `{}`))
	if !errors.Is(err, ErrRestarting) {
		t.Fatalf("start on a driver that exits at launch: %v, want ErrRestarting", err)
	}
	st, _ := f.sup.DriverStatus(binary)
	for what, text := range map[string]string{"start error": err.Error(), "last_error": st.LastError} {
		for _, want := range []string{"exit status 3", "crashy: cannot open config", "crashy: password ****** refused", "xxx"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s %q does not say %q", what, text, want)
			}
		}
		for _, not := range []string{protocolHint, "Unrecognized remote plugin message", "hunter2", "first line", long[:maxStderrLine+1]} {
			if strings.Contains(text, not) {
				t.Errorf("%s %q says %q", what, text, not)
			}
		}
	}
	if st.LastExitCode != 3 || st.State != StateCrashloop {
		t.Errorf("status: %+v, want last_exit_code 3 in crashloop", st)
	}
	if st.LaunchCount < st.RestartCount || st.RestartCount < 3 {
		t.Errorf("launch_count %d, restart_count %d: every failed launch is a launch", st.LaunchCount, st.RestartCount)
	}
	for _, e := range append(f.logs.Entries("@level", "warn"), f.logs.Entries("@level", "error")...) {
		switch e["@message"] {
		case "plugin failed to exit gracefully", "error encountered while scanning stdout", "plugin process exited":
			t.Errorf("go-plugin's noise above DEBUG: %v", e)
		}
	}
}

// A program that is not a driver (it prints something else on stdout) still gets the protocol
// hint, whether it exits 0 or keeps running. What it printed is quoted when go-plugin read it:
// from one that keeps running always; from one that exits at once only when go-plugin's reader
// was quicker than the exit (a race in go-plugin: "Failed to read any lines"), so that case asks
// for the hint and the exit status only.
func TestNotADriverGetsProtocolHint(t *testing.T) {
	t.Parallel()
	for name, script := range map[string]string{
		"exits-0": "echo 'hello, world'\n",
		"runs-on": "echo 'hello, world'\nexec sleep 3600\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			binary := scriptDriver(t, "notdriver", script)
			f := newFixture(t, Config{BackoffInitial: 20 * time.Millisecond, CrashloopAfter: 2, LaunchTimeout: 5 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := f.sup.Start(ctx, binary, testModule("mod-notdriver", `{}`))
			want := "hello, world"
			if name == "exits-0" {
				want = "exit status 0"
			}
			if err == nil || !strings.Contains(err.Error(), protocolHint) || !strings.Contains(err.Error(), want) {
				t.Fatalf("start on a program that is not a driver: %v, want the protocol hint and %q", err, want)
			}
		})
	}
}

// go-plugin's lines that repeat the supervisor's go to DEBUG; its other lines, and a driver's own
// lines (go-plugin's Named loggers), keep their level.
func TestPluginLoggerLevels(t *testing.T) {
	t.Parallel()
	logs := &testutil.LockedBuffer{}
	l := pluginLogger{hclog.New(&hclog.LoggerOptions{Output: logs, JSONFormat: true, Level: hclog.Debug})}
	closed := &os.PathError{Op: "read", Path: "|0", Err: os.ErrClosed}
	l.Error("error encountered while scanning stdout", "error", closed)
	l.Warn("plugin failed to exit gracefully")
	l.Error("plugin process exited", "error", "exit status 3")
	l.Info("plugin process exited")
	l.Error("error encountered while scanning stdout", "error", bufio.ErrTooLong)
	l.Named("crashy").Warn("plugin failed to exit gracefully")
	levels := map[string]int{}
	for _, lv := range []string{"debug", "info", "warn", "error"} {
		levels[lv] = len(logs.Entries("@level", lv))
	}
	if want := map[string]int{"debug": 4, "info": 0, "warn": 1, "error": 1}; !maps.Equal(levels, want) {
		t.Fatalf("lines per level %v, want %v:\n%s", levels, want, logs.String())
	}
}

// A Go panic at launch is quoted by its first line and what follows it, not by the last lines of
// its stack trace; lines are cut after they are scrubbed.
func TestStderrTailKeepsPanic(t *testing.T) {
	t.Parallel()
	var tail stderrTail
	secret := strings.Repeat("s", 40)
	for _, line := range []string{
		"starting", "panic: cannot open /etc/mydriver.conf", "goroutine 1 [running]:", "main.main()",
		"\t/src/main.go:12 +0x1d", "exit status 2",
	} {
		tail.add([]byte(line))
	}
	got := tail.text(func(s string) string { return s })
	if want := "panic: cannot open /etc/mydriver.conf | goroutine 1 [running]: | main.main()"; got != want {
		t.Errorf("tail of a panic: %q, want %q", got, want)
	}

	var plain stderrTail
	plain.add([]byte(strings.Repeat("x", maxStderrLine-10) + secret))
	got = plain.text(func(s string) string { return strings.ReplaceAll(s, secret, "[redacted]") })
	if want := strings.Repeat("x", maxStderrLine-10) + "[redacted]"; got != want {
		t.Errorf("a line with a protected value across the cut: %q, want %q", got, want)
	}
}
