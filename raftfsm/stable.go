package raftfsm

import (
	"sync"

	"github.com/hashicorp/raft"
)

// closingStable is the Raft stable store (the current term, the last vote) as the node shuts
// down. Raft handles a heartbeat outside its main loop; one that arrived just before Shutdown can
// still be running when the store closes, and if it carries a newer term Raft writes that term and
// panics when the write fails ("failed to save current term: database not open"). Close waits for
// writes in flight; one that starts after it is dropped: the node is stopping, and a term learned
// from a heartbeat (not a vote, which only Raft's main loop casts, and it has stopped) is learned
// again from the next one after a restart.
type closingStable struct {
	raft.StableStore
	mu     sync.RWMutex
	closed bool
}

func (c *closingStable) Set(key, val []byte) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil
	}
	return c.StableStore.Set(key, val)
}

func (c *closingStable) SetUint64(key []byte, val uint64) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil
	}
	return c.StableStore.SetUint64(key, val)
}

// close makes later writes no-ops, once the writes in flight are done.
func (c *closingStable) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}
