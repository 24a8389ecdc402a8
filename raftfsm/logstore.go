package raftfsm

import (
	"sync"

	"github.com/hashicorp/raft"
)

// suffixLog is Raft's log store (bolt) with the two steps of a follower's conflict resolution
// kept together. A follower whose log holds entries the leader does not (an old leader's last
// writes that no other node got) deletes that suffix and then stores the leader's entries. Raft
// updates its own record of the last entry only when both succeed, and assumes a failed store
// changed nothing; if the deletion went through but the store failed (a full disk: freeing a few
// entries gave back less room than the new ones need), Raft's last entry would name one that is
// gone, and every later append would be refused for ever, also once the disk has room again —
// the node serves a stale model until it restarts.
//
// So the deletion of a suffix is held until the store that follows it: the new entries are
// written over the old ones first, then what is left of the suffix is deleted. A failed store
// leaves the old suffix as it was, which is what Raft still believes, and the leader's next append
// meets the same conflict and tries again.
type suffixLog struct {
	raft.LogStore
	mu sync.Mutex
	// pending is the suffix [min, max] Raft asked to delete and the next StoreLogs deletes; nil
	// when none.
	pending *span
}

type span struct{ min, max uint64 }

func (s *span) holds(i uint64) bool { return s != nil && i >= s.min && i <= s.max }

// DeleteRange holds back a deletion that ends at the last entry and leaves older ones (a
// conflicting suffix); any other (compaction of old entries, or the whole log) is done at once.
func (l *suffixLog) DeleteRange(min, max uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.flush(); err != nil {
		return err
	}
	first, err := l.LogStore.FirstIndex()
	if err != nil {
		return err
	}
	last, err := l.LogStore.LastIndex()
	if err != nil {
		return err
	}
	if min > first && max >= last {
		l.pending = &span{min, max}
		return nil
	}
	return l.LogStore.DeleteRange(min, max)
}

// flush deletes a held suffix now (a deletion not followed by a store: Raft never does that, but
// the store must not keep entries it was told to drop).
func (l *suffixLog) flush() error {
	if l.pending == nil {
		return nil
	}
	p := l.pending
	l.pending = nil
	return l.LogStore.DeleteRange(p.min, p.max)
}

func (l *suffixLog) StoreLog(log *raft.Log) error { return l.StoreLogs([]*raft.Log{log}) }

func (l *suffixLog) StoreLogs(logs []*raft.Log) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending
	if p == nil || len(logs) == 0 || logs[0].Index != p.min {
		if err := l.flush(); err != nil {
			return err
		}
		return l.LogStore.StoreLogs(logs)
	}
	// Whatever happens now, the suffix is no longer held: on failure it stays, as Raft believes.
	l.pending = nil
	if err := l.LogStore.StoreLogs(logs); err != nil {
		return err
	}
	if stored := logs[len(logs)-1].Index; stored < p.max {
		// On failure the entries past the new ones are still the old ones, and Raft, which keeps
		// the old last entry when StoreLogs fails, finds them so at its next append.
		return l.LogStore.DeleteRange(stored+1, p.max)
	}
	return nil
}

func (l *suffixLog) GetLog(index uint64, log *raft.Log) error {
	l.mu.Lock()
	held := l.pending.holds(index)
	l.mu.Unlock()
	if held {
		return raft.ErrLogNotFound
	}
	return l.LogStore.GetLog(index, log)
}

func (l *suffixLog) LastIndex() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending != nil {
		return l.pending.min - 1, nil
	}
	return l.LogStore.LastIndex()
}
