package peer_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestHandshakeFloodLeavesNodesIn: a client that reaches the cluster port with no secret (here
// from 127.0.0.2) opens more connections than the port has handshake places and sends nothing on
// them. A node's connection (from 127.0.0.1) still gets in and reaches Raft: the places are shared
// between addresses, and the flood gives one of its own up for it.
func TestHandshakeFloodLeavesNodesIn(t *testing.T) {
	t.Parallel()
	rpc := []byte{0, 7, 9}
	port, accepted := raftPort(t, proved, len(rpc))
	const flood = 300 // more than the port's 256 places
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: within}
	for range flood {
		c, err := d.Dial("tcp", port.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// Every place is held once the port refused the connections over its places.
	testutil.Eventually(t, within, "the flood to fill every handshake place", func() bool { return port.Refused() >= flood-256 })
	c, err := proved.Dial(t.Context(), port.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(rpc); err != nil {
		t.Fatalf("a node's connection during the flood: %v", err)
	}
	select {
	case b := <-accepted:
		if !bytes.Equal(b, rpc) {
			t.Fatalf("raft got %v", b)
		}
	case <-time.After(within):
		t.Fatal("a node's connection did not reach Raft while a flood held the handshake places")
	}
}
