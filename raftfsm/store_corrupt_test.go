package raftfsm

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A damaged raft.db (truncated after a disk fault) is an error naming the file and what to do,
// not a panic of the database library.
func TestDamagedLogStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "raft.db")
	b, err := openBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetUint64([]byte("k"), 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, min(fi.Size(), 3*4096)-100); err != nil { // the meta pages, not the freelist
		t.Fatal(err)
	}
	_, err = openBolt(path)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open of a truncated raft.db: %v; want ErrCorrupt", err)
	}
	t.Log(err)
}

// Once the node closes, a late write of the stable store (a heartbeat handled as Raft shuts down,
// carrying a newer term) is dropped rather than failing — Raft panics on a failed term write —
// and the store behind it is not touched.
func TestStableStoreAfterClose(t *testing.T) {
	t.Parallel()
	b, err := openBolt(filepath.Join(t.TempDir(), "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	c := &closingStable{StableStore: b}
	if err := c.SetUint64([]byte("CurrentTerm"), 1); err != nil {
		t.Fatal(err)
	}
	c.close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetUint64([]byte("CurrentTerm"), 2); err != nil {
		t.Fatalf("a term written after close: %v (raft panics on it)", err)
	}
	if err := c.Set([]byte("LastVoteCand"), []byte("n2")); err != nil {
		t.Fatalf("a write after close: %v", err)
	}
	if err := b.SetUint64([]byte("CurrentTerm"), 3); err == nil {
		t.Fatal("the closed store took a write directly: the test does not show what it should")
	}
}
