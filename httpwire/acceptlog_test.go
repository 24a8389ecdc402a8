package httpwire

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestAcceptLogInterval: failures go at once when none came in the interval before, else are
// counted into one line when the interval ends; an interval without any ends the counting. The
// interval's end is called here as its timer would (an hour away), so nothing depends on time.
func TestAcceptLogInterval(t *testing.T) {
	t.Parallel()
	logs := &testutil.LockedBuffer{}
	a := NewAcceptLog(hclog.New(&hclog.LoggerOptions{Output: logs}), "cluster port", "127.0.0.1:1")
	a.interval = time.Hour
	defer a.Stop()
	lines := func() []string { return strings.Split(strings.TrimSpace(logs.String()), "\n") }
	endInterval := func() {
		a.mu.Lock()
		gen := a.gen
		a.mu.Unlock()
		a.flush(gen)
	}

	for range 50 {
		a.Failed("accept4: too many open files")
	}
	if l := lines(); len(l) != 1 || !strings.Contains(l[0], "[WARN]") || !strings.Contains(l[0], `listener="cluster port"`) {
		t.Fatalf("50 failures in an interval logged %q; want one WARN naming the listener", l)
	}
	endInterval()
	if l := lines(); len(l) != 2 || !strings.Contains(l[1], "accepts still failing") || !strings.Contains(l[1], "failed=49") {
		t.Fatalf("the interval's end logged %q; want one line with the 49 counted", l)
	}
	a.Failed("accept4: too many open files")
	endInterval()
	if l := lines(); len(l) != 3 || !strings.Contains(l[2], "failed=1") {
		t.Fatalf("one failure in the next interval: %q", l)
	}
	endInterval() // an interval without failures: the next is logged at once again
	a.Failed("accept4: too many open files")
	if l := lines(); len(l) != 4 || !strings.Contains(l[3], "accept failed") {
		t.Fatalf("a failure after a quiet interval: %q", l)
	}
}
