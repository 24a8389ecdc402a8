package raftfsm

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
)

// failingStore is a bolt log store whose StoreLogs fails while full is set, as on a full disk.
type failingStore struct {
	raft.LogStore
	full bool
}

func (f *failingStore) StoreLogs(logs []*raft.Log) error {
	if f.full {
		return syscall.ENOSPC
	}
	return f.LogStore.StoreLogs(logs)
}

// What Raft's follower does on a conflict — delete the suffix, store the leader's entries — leaves
// the log as Raft believes it: the old suffix when the store fails, the new entries and nothing of
// the old suffix when it succeeds; deletions of old entries (compaction) are done at once.
func TestSuffixLog(t *testing.T) {
	t.Parallel()
	b, err := openBolt(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fs := &failingStore{LogStore: b}
	l := &suffixLog{LogStore: fs}
	entries := func(term uint64, from, to uint64) []*raft.Log {
		var out []*raft.Log
		for i := from; i <= to; i++ {
			out = append(out, &raft.Log{Index: i, Term: term, Type: raft.LogCommand, Data: []byte{byte(i)}})
		}
		return out
	}
	termOf := func(i uint64) uint64 {
		var lg raft.Log
		if err := l.GetLog(i, &lg); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		return lg.Term
	}
	lastIs := func(want uint64) {
		t.Helper()
		if got, err := l.LastIndex(); err != nil || got != want {
			t.Fatalf("last index %d (%v), want %d", got, err, want)
		}
	}
	if err := l.StoreLogs(entries(1, 1, 10)); err != nil {
		t.Fatal(err)
	}

	// The store fails: entries 6..10 of term 1 are still there.
	if err := l.DeleteRange(6, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.GetLog(7, &raft.Log{}); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("an entry of the deleted suffix: %v, want not found", err)
	}
	lastIs(5)
	fs.full = true
	if err := l.StoreLogs(entries(2, 6, 7)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("store on a full disk: %v", err)
	}
	lastIs(10)
	if termOf(6) != 1 || termOf(10) != 1 {
		t.Fatal("the old suffix is not intact after a failed store")
	}

	// The store succeeds: 6..7 of term 2, nothing after them.
	fs.full = false
	if err := l.DeleteRange(6, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.StoreLogs(entries(2, 6, 7)); err != nil {
		t.Fatal(err)
	}
	lastIs(7)
	if termOf(6) != 2 || termOf(7) != 2 {
		t.Fatal("the new entries are not stored")
	}

	// Compaction is not held.
	if err := l.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	if first, err := l.FirstIndex(); err != nil || first != 4 {
		t.Fatalf("first index %d (%v) after compaction, want 4", first, err)
	}
}
