package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// hangingDriver writes a "driver" that never prints go-plugin's handshake line, as the fault
// report's `sleep 3600`, but with a child too and every pid appended to the file it returns.
func hangingDriver(t *testing.T) (binary, pidFile string) {
	t.Helper()
	dir := t.TempDir()
	binary, pidFile = filepath.Join(dir, "td-hangstart"), filepath.Join(dir, "pids")
	testutil.WriteScript(t, binary, "echo $$ >> \"$HANG_PIDS\"\nsleep 3600 &\necho $! >> \"$HANG_PIDS\"\nwait\n")
	return binary, pidFile
}

func readPids(t *testing.T, file string) []int {
	t.Helper()
	raw, _ := os.ReadFile(file) // absent until the first launch wrote it
	var pids []int
	for _, f := range strings.Fields(string(raw)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("pid file %s: %v", file, err)
		}
		pids = append(pids, pid)
	}
	return pids
}

// A driver that hangs at launch holds its first Start for LaunchTimeout, not for go-plugin's
// minute or CallTimeout; its process and what it started are killed, the failure goes through
// the restart backoff with a clear reason, and further calls fail at once while it keeps hanging.
func TestHungLaunchIsBounded(t *testing.T) {
	t.Parallel()
	binary, pidFile := hangingDriver(t)
	const launch = time.Second
	f := newFixture(t, Config{
		LaunchTimeout: launch, CallTimeout: 30 * time.Second, BackoffInitial: 100 * time.Millisecond,
		Env: func(string) []string { return []string{"HANG_PIDS=" + pidFile} },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	began := time.Now()
	err := f.sup.Start(ctx, binary, testModule("mod-hang", `{}`))
	took := time.Since(began)
	const reason = "the driver did not complete go-plugin's handshake within 1s"
	if !errors.Is(err, ErrRestarting) || !strings.Contains(err.Error(), reason) {
		t.Fatalf("start on a hanging driver: %v, want ErrRestarting saying %q", err, reason)
	}
	// Bounded by the launch timeout, not by go-plugin's minute or CallTimeout (30 s): the kill and
	// reap after it take ~2 s here and more on a loaded machine, so the bound is generous.
	if took > launch+10*time.Second {
		t.Fatalf("start on a hanging driver took %s, LaunchTimeout is %s (CallTimeout 30s)", took, launch)
	}
	st, _ := f.sup.DriverStatus(binary)
	if st.Running || st.State != StateRestarting || !strings.Contains(st.LastError, reason) || st.LastExitSignal != "SIGKILL" {
		t.Fatalf("status of a hanging driver: %+v", st)
	}

	// The next caller (the reconciler's next pass) is not held for another LaunchTimeout.
	began = time.Now()
	if err := f.sup.Start(ctx, binary, testModule("mod-hang-2", `{}`)); !errors.Is(err, ErrRestarting) {
		t.Fatalf("second start on a hanging driver: %v", err)
	}
	if took := time.Since(began); took > launch/2 {
		t.Fatalf("second start waited %s for a driver whose launch hung", took)
	}

	// Retried through the backoff, and every launch's process tree is killed.
	testutil.Eventually(t, 15*time.Second, "a second failed launch", func() bool {
		return len(findLogs(f.logs, "driver process failed to start")) >= 2
	})
	pids := readPids(t, pidFile)
	if len(pids) < 4 {
		t.Fatalf("launched processes: %v, want two launches of a shell and its sleep", pids)
	}
	testutil.WaitGone(t, pids[:4]...)
}

// Stopping the last module of a driver whose launch hangs ends the launch at once: the engine's
// pass that deletes the module is not held for LaunchTimeout either.
func TestStopDuringHungLaunch(t *testing.T) {
	t.Parallel()
	binary, pidFile := hangingDriver(t)
	f := newFixture(t, Config{
		LaunchTimeout: 30 * time.Second,
		Env:           func(string) []string { return []string{"HANG_PIDS=" + pidFile} },
	})
	started := make(chan error, 1)
	go func() { started <- f.sup.Start(t.Context(), binary, testModule("mod-hang", `{}`)) }()
	testutil.Eventually(t, 10*time.Second, "the hanging driver and its child running", func() bool {
		pids := readPids(t, pidFile)
		return len(pids) == 2 && testutil.Alive(pids[1])
	})

	began := time.Now()
	if err := f.sup.Stop(t.Context(), "mod-hang"); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("stopping a module whose driver hangs at launch took %s", took)
	}
	testutil.WaitGone(t, readPids(t, pidFile)...)
	if err := <-started; !errors.Is(err, ErrDriverNotRunning) {
		t.Fatalf("the start waiting for the stopped launch: %v, want ErrDriverNotRunning", err)
	}
}
