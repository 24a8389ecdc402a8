package simtcp

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// lockedBuffer is a log the serving goroutines write while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogConnections: a simulator run by hand logs each client that connects and goes with the
// count still open, which is how an operator sees a device with two clients (one module running
// on two nodes at once).
func TestLogConnections(t *testing.T) {
	t.Parallel()
	srv, err := Listen("127.0.0.1:0", func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) })
	if err != nil {
		t.Fatal(err)
	}
	var log lockedBuffer
	srv.LogConnections(&log, "test simulator")
	srv.Start()
	t.Cleanup(func() { _ = srv.Close() })

	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		t.Cleanup(func() { _ = c.Close() })
	}
	testutil.Eventually(t, 5*time.Second, "the second client logged with 2 open", func() bool {
		return strings.Contains(log.String(), "connected (2 open)")
	})
	_ = conns[0].Close()
	testutil.Eventually(t, 5*time.Second, "a client's going logged with 1 open", func() bool {
		return strings.Contains(log.String(), "disconnected (1 open)")
	})
	first, _, _ := strings.Cut(log.String(), "\n")
	if want := "test simulator " + srv.Addr() + ": client " + conns[0].LocalAddr().String() + " connected (1 open)"; !strings.Contains(first, want) {
		t.Errorf("first line %q, want it to contain %q", first, want)
	}
}
