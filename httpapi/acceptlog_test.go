package httpapi

import (
	"context"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/internal/testutil"
)

// emfileListener fails its first fail accepts as at the process's file descriptor limit, then
// accepts from the real listener under it.
type emfileListener struct {
	net.Listener
	fail  int64
	calls atomic.Int64
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.calls.Add(1) <= l.fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsLoggedOnce: at the file descriptor limit net/http's accept loop retries every
// few milliseconds and logs each failure through the server's ErrorLog; the client API logs the
// first at WARN, naming the listener, and the rest as one line with their count, not one INFO
// line each (fault injection 13, L5).
func TestAcceptErrorsLoggedOnce(t *testing.T) {
	t.Parallel()
	const fails = 6
	logs := &testutil.LockedBuffer{}
	hs := newHarness(t, func(c *Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	})
	real, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &emfileListener{Listener: real, fail: fails}
	if err := hs.srv.Serve(ln); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the failed accepts and one more", func() bool { return ln.calls.Load() > fails })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var first, counted int
	failed := regexp.MustCompile(`failed=(\d+)`)
	for _, line := range strings.Split(logs.String(), "\n") {
		switch {
		case strings.Contains(line, "Accept error"):
			t.Errorf("a failed accept logged as net/http words it: %s", line)
		case strings.Contains(line, "accept failed"):
			first++
			if !strings.Contains(line, "[WARN]") || !strings.Contains(line, `listener="client API"`) ||
				!strings.Contains(line, "too many open files") || !strings.Contains(line, real.Addr().String()) {
				t.Errorf("the first failed accept: %s; want a WARN naming the listener, its address and the error", line)
			}
		case strings.Contains(line, "accepts still failing"):
			m := failed.FindStringSubmatch(line)
			if m == nil || !strings.Contains(line, "[WARN]") {
				t.Errorf("the count of failed accepts: %s", line)
				continue
			}
			n, _ := strconv.Atoi(m[1])
			counted += n
		}
	}
	if first != 1 || counted != fails-1 {
		t.Fatalf("%d failed accepts gave %d lines at once and a count of %d; want 1 and %d:\n%s", fails, first, counted, fails-1, logs.String())
	}
}
