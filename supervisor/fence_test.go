package supervisor

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	pb "github.com/placeos-go/engine/plugin/proto"
)

// TestFenceStopsSilencedDriver: a driver process that hears no heartbeat for FenceAfter (its
// engine frozen) closes its device connection and exits on its own, and is relaunched with its
// module once the supervisor sees it gone.
func TestFenceStopsSilencedDriver(t *testing.T) {
	t.Parallel()
	const fenceAfter = 600 * time.Millisecond
	var paused, cutOff atomic.Bool
	var asked atomic.Int64
	f := newFixture(t, Config{FenceAfter: fenceAfter, heartbeatsPaused: &paused, InContact: func(time.Time) bool {
		asked.Add(1)
		return !cutOff.Load()
	}})
	display := testutil.BuildBinary(t, "examples/drivers/display")
	sim, err := displaysim.New("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mod := &pb.Module{Id: "mod-display", DriverId: "drv-display", Name: "Display", Role: "device", Ip: "127.0.0.1", Port: int32(sim.Port())}
	if err := f.sup.Start(ctx, display, mod); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the display driver connects to the sim", func() bool { return sim.Connections() == 1 })
	first := sim.Conns()[0]
	st, _ := f.sup.DriverStatus(display)

	// Heartbeats keep a healthy process running well past its fence time.
	for until := time.Now().Add(3 * fenceAfter); time.Now().Before(until); {
		if _, err := f.execErr(ctx, mod.Id, "power", true); err != nil {
			t.Fatal(err)
		}
	}
	if now, _ := f.sup.DriverStatus(display); now.PID != st.PID || now.LaunchCount != 1 {
		t.Fatalf("a driver that got its heartbeats was relaunched: %+v", now)
	}

	cutOff.Store(true)
	paused.Store(true)
	silenced := time.Now()
	// The fence time counts from the last heartbeat, which came up to an interval before the pause.
	within := fenceAfter + plugin.FenceStopTime + time.Second
	testutil.Eventually(t, within, "the fenced driver's device connection closes", func() bool {
		return !slices.Contains(sim.Conns(), first)
	})
	closed := time.Since(silenced)
	testutil.WaitGone(t, st.PID)
	if closed < fenceAfter-f.sup.cfg.HeartbeatInterval {
		t.Fatalf("the connection closed %s after the heartbeats stopped, before the fence time %s", closed, fenceAfter)
	}
	t.Logf("device connection closed %s after the last heartbeat was held back (fence %s)", closed.Round(time.Millisecond), fenceAfter)

	// While the node is cut off the fenced process is not relaunched: the engine is about to stop
	// the modules that moved away.
	testutil.Eventually(t, 10*time.Second, "the fenced exit handled", func() bool {
		return len(findLogs(f.logs, "driver process exited")) == 1
	})
	n := asked.Load()
	testutil.Eventually(t, 5*time.Second, "the supervisor asking for contact again and again", func() bool { return asked.Load() > n+1 })
	if now, _ := f.sup.DriverStatus(display); now.Running || sim.Connections() != 0 {
		t.Fatalf("the fenced driver was relaunched while the node was cut off: %+v, %d connections", now, sim.Connections())
	}

	cutOff.Store(false)
	paused.Store(false)
	testutil.Eventually(t, 10*time.Second, "the module runs again in a new process", func() bool {
		now, _ := f.sup.DriverStatus(display)
		return now.Running && now.PID != st.PID && sim.Connections() == 1
	})
	if _, err := f.execErr(ctx, mod.Id, "power", false); err != nil {
		t.Fatal(err)
	}
	now, _ := f.sup.DriverStatus(display)
	if now.LastExitCode != plugin.FencedExitCode || !strings.Contains(now.LastError, "fenced") {
		t.Fatalf("the driver's status does not say it fenced itself: %+v", now)
	}
	exits := findLogs(f.logs, "driver process exited")
	if len(exits) != 1 || !strings.Contains(exits[0]["reason"].(string), "fenced") {
		t.Fatalf("want one exit logged as fenced, got %v", exits)
	}
	if !strings.Contains(f.logs.String(), "engine silent for 600ms: stopping modules and exiting (fenced)") {
		t.Fatalf("the driver's own line is missing from the log:\n%s", f.logs.Tail(30))
	}
}

// TestFencedDriverStoppedWhileCutOff: a module stopped while its fenced process waits for the node
// to be in contact again (the engine's cut-off stop) is not started again: the driver is not
// relaunched at all.
func TestFencedDriverStoppedWhileCutOff(t *testing.T) {
	t.Parallel()
	var paused atomic.Bool
	var answered atomic.Int64
	f := newFixture(t, Config{FenceAfter: 300 * time.Millisecond, heartbeatsPaused: &paused, heartbeatsAnswered: &answered,
		InContact: func(time.Time) bool { return false }})
	f.start(t, testModule("mod-1", "{}"))
	pid := f.pid(t)
	// The fence is armed by the first heartbeat the process hears: on a loaded machine the test
	// could otherwise silence them before one got through, and the process would never fence.
	testutil.Eventually(t, 10*time.Second, "a heartbeat answered", func() bool { return answered.Load() > 0 })
	paused.Store(true)
	testutil.WaitGone(t, pid)
	testutil.Eventually(t, 5*time.Second, "the fenced exit handled", func() bool {
		return len(findLogs(f.logs, "driver process exited")) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.sup.Stop(ctx, "mod-1"); err != nil {
		t.Fatal(err)
	}
	if st, ok := f.sup.DriverStatus(f.binary); ok && st.Running {
		t.Fatalf("the driver runs again after its last module stopped: %+v", st)
	}
	if n := len(findLogs(f.logs, "driver process started")); n != 1 {
		t.Fatalf("%d launches, want the first only", n)
	}
}

// TestDriverWithoutHeartbeat: a driver built before Heartbeat existed answers it Unimplemented;
// the supervisor says so once, stops sending it, and the driver runs on.
func TestDriverWithoutHeartbeat(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{FenceAfter: 300 * time.Millisecond, Env: func(string) []string {
		return []string{"TESTDRIVER_NO_HEARTBEAT=1"}
	}})
	f.start(t, testModule("mod-1", "{}"))
	pid := f.pid(t)
	testutil.Eventually(t, 5*time.Second, "the supervisor noting the old driver", func() bool {
		return len(findLogs(f.logs, "driver process predates heartbeats: it keeps running if this engine stalls (no fence)")) == 1
	})
	if got := f.exec(t, "mod-1", "echo", "still here"); got != `["still here"]` {
		t.Fatalf("echo: %s", got)
	}
	if now := f.pid(t); now != pid {
		t.Fatalf("the old driver was relaunched: pid %d, then %d", pid, now)
	}
}
