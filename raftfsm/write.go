package raftfsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
)

// Model returns the current model and its version (grows on every model change).
func (s *Store) Model() (*model.Model, uint64) { return s.fsm.Model() }

// ModelFor returns the current model as a caller of clearance c may read it: protected values
// opened up to c, the rest redacted (model.Model.Redacted).
func (s *Store) ModelFor(c auth.Clearance) (*model.Model, error) {
	m, _ := s.fsm.Model()
	return m.Redacted(c, s.cfg.Secrets)
}

// Apply creates or replaces every entity in f by id. Protected settings are sealed here, on the
// node that accepts the write, so that neither the command forwarded to the leader nor the Raft
// log ever holds them in clear (and Apply on every node stays deterministic).
func (s *Store) Apply(ctx context.Context, f *model.File) error {
	cur, _ := s.fsm.Model()
	sealed, err := f.Seal(cur, s.cfg.Secrets)
	if err != nil {
		return err
	}
	cmd, err := ApplyCommand(sealed)
	if err != nil {
		return err
	}
	return s.propose(ctx, cmd)
}

// Delete removes an entity that nothing refers to.
func (s *Store) Delete(ctx context.Context, kind model.Kind, id string) error {
	return s.propose(ctx, DeleteCommand(kind, id))
}

// SetRunning sets a module's desired state.
func (s *Store) SetRunning(ctx context.Context, moduleID string, running bool) error {
	return s.propose(ctx, SetRunningCommand(moduleID, running))
}

// SaveSetting sets one top-level key of a module's own settings.
func (s *Store) SaveSetting(ctx context.Context, moduleID, name string, value json.RawMessage) error {
	cmd, err := SaveSettingCommand(moduleID, name, value)
	if err != nil {
		return err
	}
	return s.propose(ctx, cmd)
}

// SetNodeUp marks a node up or down (the leader's failure detector uses it; exported for
// operators and tests).
func (s *Store) SetNodeUp(ctx context.Context, id string, up bool) error {
	return s.propose(ctx, SetNodeUpCommand(id, up))
}

// SetNodeReady records that node id has reconciled its share of the cluster for epoch.
func (s *Store) SetNodeReady(ctx context.Context, id string, epoch uint64) error {
	return s.propose(ctx, SetNodeReadyCommand(id, epoch))
}

// Join adds (or re-adds) a node as a voter, or a non-voter (Member.NonVoter), and records its
// addresses and labels; it can be called on any member and is forwarded to the leader. It is
// idempotent, and a node that comes back with a new address, or a new node on an old node's
// address, replaces the old entry; one that comes back with the other vote is promoted or
// demoted.
func (s *Store) Join(ctx context.Context, m Member) error {
	if m.ID == "" || m.RaftAddr == "" || m.HTTPAddr == "" {
		return fmt.Errorf("%w: join needs a node id, a raft address and an http address", ErrMembership)
	}
	if err := m.Labels.Check(); err != nil {
		return errkind.Wrap(errkind.BadRequest, err, "join of node %s: its labels", m.ID)
	}
	return s.propose(ctx, joinCommand(m))
}

// RemoveNode removes another node from the Raft configuration and the node table (forwarded to
// the leader), and revokes the certificates it joined with (revoke.go): the operator's removal.
// The leader cannot remove itself: it must Leave, which hands leadership over first.
func (s *Store) RemoveNode(ctx context.Context, nodeID string) error {
	return s.propose(ctx, leaveCommand(nodeID, true))
}

// Leave takes this node out of the cluster gracefully: a leader first transfers leadership, then
// the (new) leader removes this node. Close the Store afterwards. It asks again, until ctx ends,
// when the leader it asked does not answer: that one may be leaving too (its cluster port closed)
// and hand the lead on, possibly back to this node, which then takes itself out (leaveAsLeader).
func (s *Store) Leave(ctx context.Context) error {
	s.leaving.Store(true)
	if s.raft.State() == raft.Leader {
		if err := s.lastVoter(); err != nil {
			return err
		}
		s.log.Info("leaving: transferring leadership first")
		if err := s.raft.LeadershipTransfer().Error(); err != nil {
			return s.raftErr(err, "leadership transfer")
		}
	}
	for {
		// Not revoked: a node that leaves on SIGTERM is most often restarted, and rejoins as itself.
		err := s.propose(ctx, leaveCommand(s.cfg.NodeID, false))
		if errors.Is(err, errLeaderItself) {
			// The lead came to this node after the check above, from another node that is
			// leaving. Handing it on could give it straight back (Raft picks the first follower
			// as far along), so this node takes itself out.
			err = s.leaveAsLeader(ctx)
		}
		if err == nil {
			s.log.Info("left the cluster")
			return nil
		}
		if ctx.Err() != nil || !errors.Is(err, errkind.Unavailable) {
			return err
		}
		s.log.Info("leaving: the leader did not take this node's leave; asking again", "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(s.timing.heartbeat):
		}
	}
}

// leaveAsLeader takes this node, the leader, out of the cluster: its entry first (its modules,
// already stopped, move to the others; ensureSelf no longer puts it back), then its place in the
// Raft configuration, after which Raft steps down and the others elect a leader.
func (s *Store) leaveAsLeader(ctx context.Context) error {
	if err := s.lastVoter(); err != nil {
		return err
	}
	if err := s.applyLocal(ctx, nodeRemoveCommand(s.cfg.NodeID, false)); err != nil {
		return err
	}
	if err := s.raft.RemoveServer(s.id, 0, s.cfg.ApplyTimeout).Error(); err != nil {
		return s.raftErr(err, "remove itself")
	}
	s.log.Info("leaving: this node, the leader, took itself out of the configuration; the others elect a leader")
	return nil
}

// lastVoter is ErrLastVoter when this node is the only voter of the configuration.
func (s *Store) lastVoter() error {
	servers, err := s.Servers()
	if err != nil {
		return err
	}
	voters := 0
	for _, srv := range servers {
		if srv.Voter {
			voters++
		}
	}
	if voters <= 1 {
		return fmt.Errorf("%w (%s)", ErrLastVoter, s.cfg.NodeID)
	}
	return nil
}

// ApplyForwarded runs a command that a follower forwarded (the body of the node-to-node apply
// request). It runs only on the leader: a follower answers ErrNotLeader rather than forwarding
// again, so a stale view of the leader can never make a request loop.
func (s *Store) ApplyForwarded(ctx context.Context, cmd []byte) error {
	if s.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	return s.lead(ctx, cmd)
}

// propose runs cmd on the leader: here, or through the Forwarder. It never waits long for a leader
// that does not answer (frozen, or cut off): each forward has forwardWait, and a write whose leader
// did not answer in time goes once more to the next leader the cluster elects, else fails as
// unavailable. The next leader may be the same node in a later term: a leader that stepped down
// for a moment (a loaded machine missing its lease) answers "not the leader" and is often elected
// again at once, and a write sent to a follower then must not fail for want of another node.
// Commands are idempotent (upserts, deletes, node states), so a write the silent leader did
// commit after all is harmless to send again.
func (s *Store) propose(ctx context.Context, cmd []byte) error {
	e, err := decode(cmd)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.timing.leaderWait)
	var silent raft.ServerID // a leader that did not answer a forward
	var silentTerm uint64    // the term it was asked in: elected again in a later one, it is a new leader
	var silentErr error
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		if s.raft.State() == raft.Leader {
			return s.lead(ctx, cmd)
		}
		// The term before the leader: read the other way round, a leader elected in between would
		// be taken for the silent one's term and not asked again.
		term := s.raft.CurrentTerm()
		if _, lid := s.raft.LeaderWithID(); lid != "" && lid != s.id && (lid != silent || term > silentTerm) {
			n, ok := s.fsm.Node(string(lid))
			if ok && n.RaftAddr != "" {
				if s.cfg.Forwarder == nil {
					return ErrNoForwarder
				}
				err := s.forward(ctx, n.RaftAddr, cmd)
				switch {
				case err == nil:
					return nil
				case silent != "" && e.Op == OpDelete && errors.Is(err, errkind.NotFound):
					// Sent again after a leader that did not answer: that one may have committed
					// it before it stepped down ("leadership lost while committing"), and the
					// client must not read 404 for its own delete. It is gone, which is what the
					// delete asked for (also when another write removed it meanwhile, or, refused
					// unread the first time, it was never there).
					s.log.Info("a delete sent again after its leader stepped down found it gone: the first one was committed", "leader", lid)
					return nil
				case ctx.Err() != nil || silent != "" || !errors.Is(err, errkind.Unavailable) && !errors.Is(err, errkind.Timeout):
					return fmt.Errorf("forwarded to leader %s at %s: %w", lid, n.RaftAddr, err)
				}
				s.log.Warn("the leader did not take a forwarded write; waiting for the next one", "leader", lid, "error", err)
				silent, silentTerm, silentErr = lid, term, err
				deadline = time.Now().Add(s.timing.leaderWait)
				continue
			}
		}
		// No usable leader yet: an election may be under way. Wait a little for one, then give
		// up with a clear error (a node cut off from the majority never sees one).
		if time.Now().After(deadline) {
			if silent != "" {
				// Unavailable, not the forward's timeout: the client should retry shortly.
				return errkind.Wrap(ErrNoLeader, nil, "leader %s did not answer (%v) and no other was elected", silent, silentErr)
			}
			return ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// forward sends cmd to the leader at addr, allowing it forwardWait: a healthy leader commits in
// milliseconds, and one that takes seconds is most likely frozen or cut off.
func (s *Store) forward(ctx context.Context, addr string, cmd []byte) error {
	fctx, cancel := context.WithTimeout(ctx, s.timing.forwardWait)
	defer cancel()
	return s.cfg.Forwarder.Forward(fctx, addr, cmd)
}

// lead runs a command on this node, which believes it is the leader.
func (s *Store) lead(ctx context.Context, cmd []byte) error {
	e, err := decode(cmd)
	if err != nil {
		return err
	}
	switch e.Op {
	case OpJoin:
		var d Member
		if err := decodeData(e, &d); err != nil {
			return err
		}
		return s.join(ctx, d)
	case OpLeave:
		var d nodeIDData
		if err := decodeData(e, &d); err != nil {
			return err
		}
		return s.remove(ctx, raft.ServerID(d.ID), d.Revoke)
	case OpApply:
		// A forwarded write was sealed by the follower that accepted it: refuse it before it
		// reaches the log if that node's key is not this one's (or this node has none), rather
		// than commit values the cluster cannot open.
		if f, ok := applyFile(cmd); ok {
			if err := f.CheckSealed(s.cfg.Secrets); err != nil {
				return err
			}
		}
		return s.applyLocal(ctx, cmd)
	case OpDelete, OpSetRunning, OpSaveSetting, OpNodeUpsert, OpNodeRemove, OpSetNodeUp, OpSetNodeReady, OpSetNodeStarting, OpBarrier:
		return s.applyLocal(ctx, cmd)
	}
	// Refused before it reaches the log, where it would only be rejected by every node.
	return fmt.Errorf("%w: unknown op %q", ErrBadCommand, e.Op)
}

// applyLocal appends cmd to the Raft log and returns the FSM's verdict.
func (s *Store) applyLocal(ctx context.Context, cmd []byte) error {
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 {
		return errkind.Wrap(errkind.Timeout, ctx.Err(), "raft apply")
	}
	start := time.Now()
	f := s.raft.Apply(cmd, timeout)
	if err := f.Error(); err != nil {
		return s.raftErr(err, "raft apply")
	}
	s.cfg.Metrics.ObserveRaftApply(time.Since(start))
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

func (s *Store) join(ctx context.Context, d Member) error {
	if d.ID == "" || d.RaftAddr == "" {
		return fmt.Errorf("%w: join needs a node id and a raft address", ErrMembership)
	}
	if err := d.Labels.Check(); err != nil {
		return errkind.Wrap(errkind.BadRequest, err, "join of node %s: its labels", d.ID)
	}
	id, addr := raft.ServerID(d.ID), raft.ServerAddress(d.RaftAddr)
	want := raft.Voter
	if d.NonVoter {
		want = raft.Nonvoter
	}
	if err := s.admitJoin(d); err != nil {
		return err
	}
	servers, err := s.configuration()
	if err != nil {
		return err
	}
	member := false
	for _, srv := range servers {
		switch {
		case srv.ID == id && srv.Address == addr && srv.Suffrage == want:
			member = true
		case srv.ID == id && srv.Address == addr && want == raft.Nonvoter:
			if id == s.id {
				return fmt.Errorf("%w: the leader %s cannot become a non-voter; restart it with --voter=false once another voter leads", ErrMembership, id)
			}
			// A voter turned non-voter: the quorum shrinks by one, which the remaining voters
			// must still form.
			if err := s.raft.DemoteVoter(id, 0, s.cfg.ApplyTimeout).Error(); err != nil {
				return s.raftErr(err, "demote voter")
			}
			s.log.Info("node is now a non-voter", "id", id)
			member = true
		case srv.ID == id && srv.Address == addr:
			// A non-voter turned voter: AddVoter below promotes it.
		case srv.ID == id || srv.Address == addr:
			if srv.ID == s.id {
				return fmt.Errorf("%w: %s at %s would replace the leader's own entry", ErrMembership, id, addr)
			}
			if s.live(srv.ID) {
				return fmt.Errorf("%w: %s at %s would replace %s at %s, which is live: stop it first (a node that moved "+
					"rejoins once the leader has lost contact with its old address), or remove it", ErrLiveMember, id, addr, srv.ID, srv.Address)
			}
			s.log.Info("replacing a stale member entry", "old_id", srv.ID, "old_addr", srv.Address, "id", id, "addr", addr)
			if err := s.raft.RemoveServer(srv.ID, 0, s.cfg.ApplyTimeout).Error(); err != nil {
				return s.raftErr(err, "remove stale entry")
			}
		}
	}
	switch {
	case member:
	case want == raft.Nonvoter:
		if err := s.raft.AddNonvoter(id, addr, 0, s.cfg.ApplyTimeout).Error(); err != nil {
			return s.raftErr(err, "add non-voter")
		}
		s.log.Info("node joined as a non-voter", "id", id, "raft_addr", addr, "http_addr", d.HTTPAddr, "labels", d.Labels.String())
	default:
		// AddVoter also promotes a non-voter that comes back as a voter.
		if err := s.raft.AddVoter(id, addr, 0, s.cfg.ApplyTimeout).Error(); err != nil {
			return s.raftErr(err, "add voter")
		}
		s.log.Info("node joined", "id", id, "raft_addr", addr, "http_addr", d.HTTPAddr, "labels", d.Labels.String())
	}
	s.health.forget(id)
	return s.applyLocal(ctx, nodeUpsertCommand(d))
}

func (s *Store) remove(ctx context.Context, id raft.ServerID, revoke bool) error {
	if id == s.id {
		return errLeaderItself
	}
	servers, err := s.configuration()
	if err != nil {
		return err
	}
	if revoke {
		if err := s.keepsMajority(servers, id); err != nil {
			return err
		}
	}
	n, known := s.fsm.Node(string(id))
	hold := revoke && known && n.Up
	if hold {
		// Its modules may still run there: held until it has stopped them (removal.go). Marked
		// before the configuration changes, so that a leader lost in between leaves its successor
		// a marked entry to finish, not a node out of the configuration that nobody releases.
		if err := s.applyLocal(ctx, nodeHoldCommand(string(id))); err != nil {
			return err
		}
	}
	for _, srv := range servers {
		if srv.ID == id {
			if err := s.raft.RemoveServer(id, 0, s.cfg.ApplyTimeout).Error(); err != nil {
				return s.raftErr(err, "remove server")
			}
			s.log.Info("node removed", "id", id)
		}
	}
	s.health.forget(id)
	if hold {
		s.log.Info("removed node's modules move once it has stopped them", "id", id, "after", s.removalHold())
		return nil
	}
	return s.applyLocal(ctx, nodeRemoveCommand(string(id), revoke))
}

func (s *Store) configuration() ([]raft.Server, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, s.raftErr(err, "read configuration")
	}
	return f.Configuration().Servers, nil
}

// raftErr gives a Raft error its kind: a lost or moved leadership is Unavailable (the caller may
// retry on the new leader), a full queue is a Timeout.
func (s *Store) raftErr(err error, op string) error {
	switch {
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("%s: %w", op, ErrClosed)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return errkind.Wrap(errkind.Unavailable, err, "%s: leadership changed", op)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return errkind.Wrap(errkind.Timeout, err, "%s", op)
	case errors.Is(err, raft.ErrNothingNewToSnapshot), errors.Is(err, raft.ErrCantBootstrap):
		return fmt.Errorf("%s: %w", op, err)
	}
	return errkind.Wrap(errkind.Unavailable, err, "%s", op)
}
