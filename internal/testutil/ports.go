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
// again. So test ports come from below that range (Linux: 32768-60999 by default), spread at
// random per test process and handed out in turn, each checked free when handed out.
const (
	portLow  = 20000
	portHigh = 32000
)

var ports struct {
	once sync.Once
	mu   sync.Mutex
	next int
}

// FreePort returns a loopback TCP port that was free a moment ago and is not handed out twice
// by this process.
func FreePort() (int, error) {
	ports.once.Do(func() { ports.next = portLow + rand.IntN(portHigh-portLow) })
	ports.mu.Lock()
	defer ports.mu.Unlock()
	for range portHigh - portLow {
		p := ports.next
		ports.next++
		if ports.next >= portHigh {
			ports.next = portLow
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue // taken: another test process, or something else on the machine
		}
		_ = ln.Close()
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
