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
