package raftfsm

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

// Node is one member of the cluster as recorded in the FSM.
type Node struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
	RaftAddr string `json:"raft_addr"`
	// Labels are the node's --labels, which placement constraints select nodes by.
	Labels placement.Labels `json:"labels,omitempty"`
	// NonVoter: the node joined with --voter=false, as a Raft non-voter.
	NonVoter bool `json:"non_voter,omitempty"`
	// Up is the leader's verdict from Raft heartbeats (see the package comment).
	Up bool `json:"up"`
	// ReadyEpoch is the latest membership epoch the node reported ready for; the node is ready
	// when it is up and ReadyEpoch equals the current epoch.
	ReadyEpoch uint64 `json:"ready_epoch"`
	// Certs are the fingerprints of the certificates the node joined with (or re-recorded after a
	// rotation), the latest last: what its removal revokes (revoke.go).
	Certs []string `json:"certs,omitempty"`
	// Removing: an operator removed the node while it was up (removal.go). It is out of the Raft
	// configuration and its certificates are revoked, but its modules stay placed on it until the
	// leader releases the entry, once the node has surely stopped them itself.
	Removing bool `json:"removing,omitempty"`
}

// equal reports whether two entries say the same (Node holds a map, so == does not compile).
func (n Node) equal(o Node) bool {
	return n.ID == o.ID && n.HTTPAddr == o.HTTPAddr && n.RaftAddr == o.RaftAddr && n.NonVoter == o.NonVoter &&
		n.Up == o.Up && n.ReadyEpoch == o.ReadyEpoch && n.Removing == o.Removing && maps.Equal(n.Labels, o.Labels) && slices.Equal(n.Certs, o.Certs)
}

// ReadyFor reports whether the node is up and has reconciled its share for epoch.
func (n Node) ReadyFor(epoch uint64) bool { return n.Up && n.ReadyEpoch == epoch }

// FSM is the replicated state machine: the model and the node table. Apply is deterministic: it
// only uses the command and the current state (no clocks, ids, or I/O), and it refuses a bad
// command with an error result rather than a panic, so every node ends in the same state.
type FSM struct {
	mu      sync.RWMutex
	model   *model.Model
	version uint64 // model changes applied so far
	nodes   map[string]Node
	epoch   uint64 // changes of the set of up nodes
	// revoked maps the fingerprint of every revoked certificate to the node it was recorded for.
	revoked map[string]string

	// changed is called (outside the lock) after every state change.
	changed func()
	// applied is the index of the last command applied (before changed is called).
	applied atomic.Uint64
	// barrier (may be nil) is called with the token of every barrier applied (Store.Barrier).
	barrier func(token string)
}

// NewFSM returns an empty FSM; changed (may be nil) is called after every change.
func NewFSM(changed func()) *FSM {
	if changed == nil {
		changed = func() {}
	}
	return &FSM{model: model.New(), nodes: map[string]Node{}, revoked: map[string]string{}, changed: changed}
}

// Model returns the current immutable model and its version.
func (f *FSM) Model() (*model.Model, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.model, f.version
}

// Nodes returns the node table sorted by id.
func (f *FSM) Nodes() []Node {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return sortedNodes(f.nodes)
}

// Node returns one entry of the node table.
func (f *FSM) Node(id string) (Node, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	n, ok := f.nodes[id]
	return n, ok
}

// Epoch returns the membership epoch.
func (f *FSM) Epoch() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.epoch
}

func sortedNodes(m map[string]Node) []Node {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Apply implements raft.FSM. The result is nil or an error (the write's outcome for the caller).
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	changed, err := f.apply(l.Data)
	f.applied.Store(l.Index)
	if changed {
		f.changed()
	}
	return err
}

// apply runs one command and reports whether the state changed.
func (f *FSM) apply(cmd []byte) (bool, error) {
	e, err := decode(cmd)
	if err != nil {
		return false, err
	}
	switch e.Op {
	case OpApply:
		var file model.File
		if err := decodeData(e, &file); err != nil {
			return false, err
		}
		return f.updateModel(func(m *model.Model) (*model.Model, error) { return m.Upsert(&file), nil })
	case OpDelete:
		var d deleteData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		return f.updateModel(func(m *model.Model) (*model.Model, error) { return m.Without(d.Kind, d.ID) })
	case OpSetRunning:
		var d runningData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		return f.updateModel(func(m *model.Model) (*model.Model, error) { return m.WithRunning(d.Module, d.Running) })
	case OpSaveSetting:
		var d settingData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		return f.updateModel(func(m *model.Model) (*model.Model, error) { return m.WithSetting(d.Module, d.Name, d.Value) })
	case OpNodeUpsert:
		var d Member
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		if d.ID == "" || d.RaftAddr == "" {
			return false, fmt.Errorf("%w: node_upsert needs id and raft_addr", ErrBadCommand)
		}
		return f.updateNodes(func(nodes map[string]Node) error {
			// An address belongs to one node: a node that came back under a new id replaces the old.
			for id, n := range nodes {
				if id != d.ID && n.RaftAddr == d.RaftAddr {
					delete(nodes, id)
				}
			}
			n := nodes[d.ID]
			n.ID, n.HTTPAddr, n.RaftAddr, n.Labels, n.NonVoter, n.Up = d.ID, d.HTTPAddr, d.RaftAddr, d.Labels, d.NonVoter, true
			n.Removing = false
			n.Certs = withCert(n.Certs, d.Cert)
			nodes[d.ID] = n
			return nil
		})
	case OpNodeRemove:
		var d nodeIDData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		return f.updateNodes(func(nodes map[string]Node) error {
			n, ok := nodes[d.ID]
			if d.Revoke {
				f.revoke(n)
			}
			switch {
			case d.Release && !n.Removing:
			case d.Hold && ok:
				n.Removing = true
				nodes[d.ID] = n
			default:
				delete(nodes, d.ID)
			}
			return nil
		})
	case OpSetNodeUp:
		var d nodeUpData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		return f.updateNode(d.ID, func(n *Node) error { n.Up = d.Up; return nil })
	case OpSetNodeStarting:
		var d nodeIDData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		return f.updateNode(d.ID, func(n *Node) error { n.ReadyEpoch = 0; return nil })
	case OpBarrier:
		var d barrierData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		if f.barrier != nil {
			f.barrier(d.Token)
		}
		return false, nil
	case OpSetNodeReady:
		var d nodeReadyData
		if err := decodeData(e, &d); err != nil {
			return false, err
		}
		epoch := f.Epoch()
		return f.updateNode(d.ID, func(n *Node) error {
			if d.Epoch > epoch {
				return fmt.Errorf("%w: node %q reported ready for epoch %d, the current epoch is %d", ErrMembership, d.ID, d.Epoch, epoch)
			}
			n.ReadyEpoch = max(n.ReadyEpoch, d.Epoch)
			return nil
		})
	}
	return false, fmt.Errorf("%w: unknown op %q", ErrBadCommand, e.Op)
}

// updateNode changes the node table entry of id (ErrUnknownNode when there is none) with fn.
func (f *FSM) updateNode(id string, fn func(*Node) error) (bool, error) {
	return f.updateNodes(func(nodes map[string]Node) error {
		n, ok := nodes[id]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownNode, id)
		}
		if err := fn(&n); err != nil {
			return err
		}
		nodes[id] = n
		return nil
	})
}

// updateModel publishes fn's result if it is valid, with the same validation as model.Memory.
func (f *FSM) updateModel(fn func(*model.Model) (*model.Model, error)) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next, err := fn(f.model)
	if err != nil {
		return false, err
	}
	if err := next.Validate(); err != nil {
		return false, err
	}
	f.model = next
	f.version++
	return true, nil
}

// updateNodes applies fn to a copy of the node table and bumps the epoch when the set of up
// nodes changed.
func (f *FSM) updateNodes(fn func(map[string]Node) error) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := maps.Clone(f.nodes)
	revoked := len(f.revoked)
	if err := fn(next); err != nil {
		return false, err
	}
	if maps.EqualFunc(next, f.nodes, Node.equal) {
		return len(f.revoked) != revoked, nil
	}
	if !slices.Equal(upSet(next), upSet(f.nodes)) {
		f.epoch++
	}
	f.nodes = next
	return true, nil
}

func upSet(nodes map[string]Node) []string {
	var ids []string
	for id, n := range nodes {
		if n.Up {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// snapshotData is the snapshot format: everything the FSM holds.
type snapshotData struct {
	V       int         `json:"v"`
	Version uint64      `json:"version"`
	Model   *model.File `json:"model"`
	Nodes   []Node      `json:"nodes"`
	Epoch   uint64      `json:"epoch"`
	// Revoked is absent from the snapshots of older versions (nothing revoked), and ignored by them.
	Revoked []Revocation `json:"revoked,omitempty"`
}

// Snapshot implements raft.FSM. The model is immutable, so the snapshot keeps a reference and
// serialises it in Persist while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{model: f.model, data: snapshotData{
		V: CommandVersion, Version: f.version, Nodes: sortedNodes(f.nodes), Epoch: f.epoch, Revoked: revocations(f.revoked),
	}}, nil
}

// Restore implements raft.FSM: it replaces the whole state with the snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var d snapshotData
	if err := json.NewDecoder(rc).Decode(&d); err != nil {
		return fmt.Errorf("raftfsm: restore snapshot: %w", err)
	}
	if d.V != CommandVersion {
		return fmt.Errorf("%w: snapshot version %d is not supported", ErrBadCommand, d.V)
	}
	m := model.New()
	if d.Model != nil {
		m = m.Upsert(d.Model)
	}
	nodes := make(map[string]Node, len(d.Nodes))
	for _, n := range d.Nodes {
		nodes[n.ID] = n
	}
	revoked := make(map[string]string, len(d.Revoked))
	for _, r := range d.Revoked {
		revoked[r.Cert] = r.Node
	}
	f.mu.Lock()
	f.model, f.version, f.nodes, f.epoch, f.revoked = m, d.Version, nodes, d.Epoch, revoked
	f.mu.Unlock()
	f.changed()
	return nil
}

type fsmSnapshot struct {
	model *model.Model
	data  snapshotData
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	s.data.Model = s.model.File()
	if err := json.NewEncoder(sink).Encode(&s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftfsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
