package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// Test servers that must keep their port across restarts (a Redis restarted in place, an engine
// whose Raft address is in the cluster's node table) cannot listen on port 0: they are handed a
// port first. A port the kernel chose with port 0 comes from its ephemeral range, and once
// released it can be taken by any outgoing connection's local end before the server binds it
// again. So test ports come from below that range (Linux: 32768-60999 by default), each picked at
// random, never handed out twice by one process, and checked free when handed out. Test processes
// run side by side (go test runs packages in parallel) and a port is free between its pick and the
// server's bind, so each pick is also claimed machine-wide: an flock on a file named after the
// port, held until the process exits (the kernel drops it then, even on a crash), makes every
// other test process skip it.
const (
	portLow  = 20000
	portHigh = 32000
)

var ports struct {
	mu     sync.Mutex
	handed map[int]*os.File // the claim on each port handed out, kept open until exit
}

// claim takes the machine-wide claim on a port, false when another process holds it.
func claim(p int) (*os.File, bool) {
	dir := filepath.Join(os.TempDir(), "engine-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, true // no claims possible here: fall back to the bind check alone
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}

// FreePort returns a loopback TCP port that was free a moment ago and is not handed out twice
// by this process.
func FreePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.handed == nil {
		ports.handed = map[int]*os.File{}
	}
	for range 1000 {
		p := portLow + rand.IntN(portHigh-portLow)
		if _, ok := ports.handed[p]; ok {
			continue
		}
		f, ok := claim(p)
		if !ok {
			continue // another test process handed it out
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			continue // taken by something else on the machine
		}
		_ = ln.Close()
		ports.handed[p] = f
		return p, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d-%d", portLow, portHigh)
}

// FreeAddr is FreePort as a 127.0.0.1:port address, failing tb when none is free.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	p, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}
