package raftfsm

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// snapshotsDir is where hashicorp/raft's file snapshot store keeps its snapshots, under the
// folder it is given.
const snapshotsDir = "snapshots"

// privateSnapshots is the file snapshot store with every snapshot readable by the engine's user
// alone. The store creates its folders 0755 and files 0644 (less the umask), and a snapshot holds
// the whole model, settings included. (The engine also runs with umask 077; this keeps the
// snapshots private wherever a Store runs.)
type privateSnapshots struct {
	*raft.FileSnapshotStore
	dir string // <data-dir>/raft/snapshots
}

// newPrivateSnapshots opens the file snapshot store in dir and makes what it holds private.
func newPrivateSnapshots(dir string, store *raft.FileSnapshotStore) (privateSnapshots, error) {
	s := privateSnapshots{FileSnapshotStore: store, dir: filepath.Join(dir, snapshotsDir)}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return s, fmt.Errorf("raftfsm: snapshots folder: %w", err)
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return s, fmt.Errorf("raftfsm: snapshots folder: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := privateSnapshot(filepath.Join(s.dir, e.Name())); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

// Create implements raft.SnapshotStore: the snapshot is made private once it is complete.
func (s privateSnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return privateSink{SnapshotSink: sink, dir: s.dir}, nil
}

// privateSink makes its snapshot's folder and files private when the store has moved them into
// place (Close renames the temporary folder to the snapshot's id).
type privateSink struct {
	raft.SnapshotSink
	dir string
}

func (s privateSink) Close() error {
	if err := s.SnapshotSink.Close(); err != nil {
		return err
	}
	return privateSnapshot(filepath.Join(s.dir, s.ID()))
}

// privateSnapshot sets one snapshot's folder to 0700 and its files (meta.json, state.bin) to 0600.
func privateSnapshot(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("raftfsm: snapshot %s: %w", filepath.Base(dir), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("raftfsm: snapshot %s: %w", filepath.Base(dir), err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := os.Chmod(filepath.Join(dir, e.Name()), 0o600); err != nil {
				return fmt.Errorf("raftfsm: snapshot %s: %w", filepath.Base(dir), err)
			}
		}
	}
	return nil
}
