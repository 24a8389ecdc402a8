package e2e

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/placeos-go/engine/examples/sims/display/displaysim"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// A frozen engine (SIGSTOP: a long GC or VM pause, a suspended host) cannot stop its drivers, and
// the others take its modules over after DownAfter: its display driver fences itself first, so
// each display never has two control connections, during the freeze or after it.
func TestFrozenNodeDriversFenceThemselves(t *testing.T) {
	t.Parallel()
	frozenNodeFences(t, "fence", false)
}

// TestFrozenLeaderDriversFenceThemselves: the same with the leader frozen, which on its resume
// believes for a moment that it still leads; its drivers wait for a quorum's word before they run
// again.
func TestFrozenLeaderDriversFenceThemselves(t *testing.T) {
	t.Parallel()
	frozenNodeFences(t, "fleader", true)
}

// frozenNodeFences freezes for 5 s a node that runs displays, the leader or a follower, and
// checks that its display connections close before the others open theirs, and that after its
// resume every display has one connection again without ever having had two.
func frozenNodeFences(t *testing.T, prefix string, leader bool) {
	const freeze = 5 * time.Second
	c, sims, place := displaysCluster(t, prefix)
	frozen, its := runningDisplays(t, c, place, leader)
	old := firstConns(sims, its)

	// Watch every display's connections from now to the end: never two at once.
	mostAtOnce := watchConnections(t, sims)

	frozen.Pause()
	paused := time.Now()
	c.Eventually(3*time.Second, "the frozen node's display connections closed", func() bool {
		for _, mod := range its {
			if slices.Contains(sims[mod].Conns(), old[mod]) {
				return false
			}
		}
		return true
	})
	t.Logf("the frozen %s's %d display connections closed %s after SIGSTOP", frozen.ID, len(its), time.Since(paused).Round(time.Millisecond))
	c.Eventually(10*time.Second, "its displays connected from the other nodes", func() bool { return oncePerDisplay(sims, its) })
	// The freeze lasts on while the others run its displays (the watcher checks them): its
	// length is the test's input, not a wait for something to happen.
	<-time.After(time.Until(paused.Add(freeze)))
	frozen.Resume()
	frozen.WaitLog(10*time.Second, "fenced")
	c.WaitHealthy(3)
	c.Eventually(10*time.Second, "one connection per display after the resume", func() bool { return oncePerDisplay(sims, nil) })
	most := mostAtOnce()
	for mod, n := range most {
		if n > 1 {
			t.Errorf("%s had %d connections at once (the frozen node ran %v)", mod, n, its)
		}
	}
}

// displaysCluster starts a 3-node cluster running six display modules, each with a simulated
// display of its own, and returns it once every display has one connection, with the simulators
// by module id and the placement.
func displaysCluster(t *testing.T, prefix string) (*enginetest.Cluster, map[string]*displaysim.Sim, map[string]string) {
	const displays = 6
	rds := testutil.StartRedis(t)
	bin := testutil.BuildBinary(t, "./examples/drivers/display")
	sims := map[string]*displaysim.Sim{}
	var model strings.Builder
	fmt.Fprintf(&model, "drivers: [{id: drv-display, module_name: Display, role: device, binary: %q}]\nmodules:\n", bin)
	for i := 1; i <= displays; i++ {
		id := fmt.Sprintf("mod-display-%d", i)
		sims[id] = startDisplaySim(t)
		fmt.Fprintf(&model, "  - {id: %s, driver_id: drv-display, ip: 127.0.0.1, port: %d, running: true}\n", id, sims[id].Port())
	}
	c := enginetest.StartCluster(t, config(rds.URL), prefix, 3, model.String(), displays)
	c.Eventually(20*time.Second, "one connection per display", func() bool { return oncePerDisplay(sims, nil) })
	return c, sims, c.WaitHealthy(3)
}

// oncePerDisplay reports whether each display of ids (every one when ids is nil) has exactly one
// connection.
func oncePerDisplay(sims map[string]*displaysim.Sim, ids []string) bool {
	for id, sim := range sims {
		if (ids == nil || slices.Contains(ids, id)) && sim.Connections() != 1 {
			return false
		}
	}
	return true
}

// runningDisplays is a node of c that runs displays by place — the leader, or a follower — and
// the displays it runs.
func runningDisplays(t *testing.T, c *enginetest.Cluster, place map[string]string, leader bool) (*enginetest.Node, []string) {
	t.Helper()
	for _, n := range c.Nodes {
		if (n == c.Leader()) != leader {
			continue
		}
		var its []string
		for mod, node := range place {
			if node == n.ID {
				its = append(its, mod)
			}
		}
		if len(its) > 0 {
			return n, its
		}
	}
	t.Fatalf("no node of the kind (leader: %v) runs a display: %v", leader, place)
	return nil, nil
}

// firstConns is the connection each of the displays its has now.
func firstConns(sims map[string]*displaysim.Sim, its []string) map[string]net.Conn {
	old := map[string]net.Conn{}
	for _, mod := range its {
		old[mod] = sims[mod].Conns()[0]
	}
	return old
}

// watchConnections polls every display's connections every millisecond (an overlap lasted 2-4 ms)
// until the returned function is called, which returns the most each display had at once.
func watchConnections(t *testing.T, sims map[string]*displaysim.Sim) (mostAtOnce func() map[string]int) {
	most := map[string]int{}
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			for mod, sim := range sims {
				most[mod] = max(most[mod], controlling(t, sim.Conns()))
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() map[string]int {
		close(stop)
		<-watched
		return most
	}
}

// controlling is how many of a display's connections its clients still hold: established, not
// closed by the client. The simulator counts a connection until its goroutine has read the
// client's close, which on a loaded machine can come after it accepted the next client's
// connection: the old driver had closed first (its log said so 8 ms before), and the count said
// two at once. The kernel's state of the socket tells when the client's close arrived.
func controlling(t *testing.T, conns []net.Conn) int {
	n := 0
	for _, c := range conns {
		if established(t, c) {
			n++
		}
	}
	return n
}

// established reports whether the TCP connection c is in state ESTABLISHED (its client has not
// closed it), read with getsockopt(TCP_INFO), whose first byte is the state.
func established(t *testing.T, c net.Conn) bool {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		t.Fatalf("a display connection of type %T", c)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false // closed meanwhile
	}
	const tcpEstablished = 1
	var info [256]byte
	size := uint32(len(info))
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&size)), 0)
	}); err != nil {
		return false // closed meanwhile
	}
	if errno != 0 {
		t.Fatalf("getsockopt TCP_INFO: %v", errno)
	}
	return info[0] == tcpEstablished
}
