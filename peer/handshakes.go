package peer

import (
	"net"
	"sync"

	"github.com/placeos-go/engine/internal/addrkey"
)

// handshakes bounds the connections that have not proved themselves yet (maxHandshakes places),
// fairly between remote addresses (addrkey.Of). Anyone who reaches the port may open
// connections and send nothing for handshakeTimeout; were the places first come, first served,
// one such client holding them all would turn away every node of the cluster — a restarted node
// could not rejoin, a dropped Raft or exec connection could not be opened again. So when every
// place is taken, a newcomer takes the place of the oldest handshake of the address that holds
// the most (of those, the one waiting longest), if that address holds more than the newcomer's: a
// node, which has a handshake or two under way for milliseconds, gets in, and a flood churns its
// own connections.
type handshakes struct {
	mu     sync.Mutex
	max    int
	n      int
	seq    uint64                  // of the last handshake admitted
	byAddr map[string][]*handshake // oldest first
}

// handshake is one connection's place; done once released or given to a newcomer.
type handshake struct {
	conn net.Conn
	key  string
	seq  uint64 // admission order: lower is older
	done bool
}

func newHandshakes(max int) *handshakes {
	return &handshakes{max: max, byAddr: map[string][]*handshake{}}
}

// admit takes a place for conn. evicted is a connection that gave up its place for it, which the
// caller closes; ok is false when conn gets none (its address holds as many as any other).
func (h *handshakes) admit(conn net.Conn) (hs *handshake, evicted net.Conn, ok bool) {
	key := addrkey.Of(conn.RemoteAddr())
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= h.max {
		var most []*handshake
		for _, l := range h.byAddr {
			if len(l) > len(most) || len(l) == len(most) && l[0].seq < most[0].seq {
				most = l
			}
		}
		if len(most) <= len(h.byAddr[key]) {
			return nil, nil, false
		}
		old := most[0]
		h.removeLocked(old)
		evicted = old.conn
	}
	h.seq++
	hs = &handshake{conn: conn, key: key, seq: h.seq}
	h.byAddr[key] = append(h.byAddr[key], hs)
	h.n++
	return hs, evicted, true
}

// release gives hs's place back once its connection proved itself (or failed to); false when it
// had been given to a newcomer already (the connection is being closed).
func (h *handshakes) release(hs *handshake) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hs.done {
		return false
	}
	h.removeLocked(hs)
	return true
}

func (h *handshakes) removeLocked(hs *handshake) {
	hs.done = true
	h.n--
	l := h.byAddr[hs.key]
	for i, x := range l {
		if x == hs {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(h.byAddr, hs.key)
		return
	}
	h.byAddr[hs.key] = l
}
