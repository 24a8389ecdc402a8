package testutil

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// Test servers that must keep their port across restarts (a Redis restarted in place, an engine
// whose Raft address is in the cluster's node table) cannot listen on port 0: they are handed a
// port first. A port the kernel chose with port 0 comes from its ephemeral range, and once
// released it can be taken by any outgoing connection's local end before the server binds it
// again. So test ports come from below that range (Linux: 32768-60999 by default), each picked at
// random (test processes run side by side and cannot see each other's picks until they bind),
// never handed out twice by one process, and checked free when handed out.
const (
	portLow  = 20000
	portHigh = 32000
)

var ports struct {
	mu     sync.Mutex
	handed map[int]bool
}

// FreePort returns a loopback TCP port that was free a moment ago and is not handed out twice
// by this process.
func FreePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.handed == nil {
		ports.handed = map[int]bool{}
	}
	for range 1000 {
		p := portLow + rand.IntN(portHigh-portLow)
		if ports.handed[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken: another test process, or something else on the machine
		}
		_ = ln.Close()
		ports.handed[p] = true
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
