package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// copyBinary copies the test driver to a new path: to the supervisor, a new driver binary.
func copyBinary(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "testdriver-v2")
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// callLoop calls each of mods in a loop, counting the calls and those that fail (each an error
// of the test, naming during), until end, which the test defers too: no call outlives it.
func callLoop(t *testing.T, f *fixture, during string, mods ...string) (calls, failures *atomic.Int64, end func()) {
	calls, failures = new(atomic.Int64), new(atomic.Int64)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, mod := range mods {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := f.execErr(context.Background(), mod, "sleep", 2)
				calls.Add(1)
				if err != nil || resp.Error != nil {
					failures.Add(1)
					t.Errorf("call on %s during %s failed: %v %v", mod, during, err, resp.GetError())
				}
			}
		})
	}
	return calls, failures, sync.OnceFunc(func() { close(stop); wg.Wait() })
}

// Moving modules to a new binary while a client calls them in a loop fails no call; the old
// process ends once its last module moved.
func TestMoveWithoutFailedCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-a", `{"v": 1}`))
	f.start(t, testModule("mod-b", `{"v": 2}`))
	oldPID := f.pid(t)
	v2 := copyBinary(t, f.binary)

	calls, failures, end := callLoop(t, f, "the move", "mod-a", "mod-b")
	defer end()
	testutil.Eventually(t, 5*time.Second, "calls running", func() bool { return calls.Load() > 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range []string{"mod-a", "mod-b"} {
		cfg := testModule(m, `{"v": 3}`)
		if err := f.sup.Move(ctx, v2, cfg); err != nil {
			t.Fatalf("move %s: %v", m, err)
		}
	}
	before := calls.Load()
	testutil.Eventually(t, 5*time.Second, "calls after the move", func() bool { return calls.Load() > before+20 })
	end()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed", failures.Load(), calls.Load())
	}
	if got := f.exec(t, "mod-a", "settings"); got != `{"v": 3}` && got != `{"v":3}` {
		t.Fatalf("settings after the move = %s", got)
	}
	if _, ok := f.sup.DriverStatus(f.binary); ok {
		t.Fatal("the old driver is still known after its last module moved")
	}
	if loaded := f.sup.Loaded(); len(loaded[v2]) != 2 {
		t.Fatalf("loaded after the move = %v", loaded)
	}
	testutil.WaitGone(t, oldPID)
}
