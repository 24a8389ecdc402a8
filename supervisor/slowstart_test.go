package supervisor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// A module whose Start hangs in the driver (deaf to the deadline) holds neither its driver's other
// modules — started with it in the process's first launch, or after — nor its own Stop, which
// ends the hung Start with ErrModuleNotRunning.
func TestHungStartHoldsNeitherOthersNorStop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	hung := make(chan error, 1)
	go func() {
		hung <- f.sup.Start(t.Context(), f.binary, testModule("mod-hang", `{"hang_start_ms": 600000}`))
	}()
	began := time.Now()
	f.start(t, testModule("mod-a", `{}`))
	f.start(t, testModule("mod-b", `{}`))
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("modules beside a hung start started after %s", took)
	}
	if got := f.exec(t, "mod-b", "echo", 1); got != "[1]" {
		t.Fatalf("echo on mod-b: %s", got)
	}

	stopped := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := f.sup.Stop(ctx, "mod-hang"); err != nil {
		t.Fatalf("stop of the hung module: %v", err)
	}
	select {
	case err := <-hung:
		if !errors.Is(err, ErrModuleNotRunning) {
			t.Fatalf("the hung start ended with %v; want ErrModuleNotRunning", err)
		}
	case <-ctx.Done():
		t.Fatal("the hung start did not end when its module stopped")
	}
	if took := time.Since(stopped); took > 5*time.Second {
		t.Fatalf("stopping the hung module took %s", took)
	}
	if _, err := f.execErr(t.Context(), "mod-hang", "echo"); !errors.Is(err, ErrModuleNotRunning) {
		t.Fatalf("a call to the stopped module: %v; want ErrModuleNotRunning", err)
	}
}

// A module started while its driver's new process is still starting the modules it was launched
// with answers once its own start has, not after the hung one's slowRestart.
func TestStartBesideALaunchHeldByAHungStart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	go func() {
		_ = f.sup.Start(t.Context(), f.binary, testModule("mod-hang", `{"hang_start_ms": 600000}`))
	}()
	testutil.Eventually(t, 10*time.Second, "the driver's process up", func() bool {
		st, ok := f.sup.DriverStatus(f.binary)
		return ok && st.PID != 0
	})
	began := time.Now()
	f.start(t, testModule("mod-a", `{}`))
	// Without it the start answers slowRestart after the launch, which was just before began.
	if took := time.Since(began); took >= slowRestart/2 {
		t.Fatalf("a module started beside a launch held by a hung start answered after %s; want well before slowRestart (%s)", took, slowRestart)
	}
}
