package raftfsm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// An operator may remove a node that is up (RemoveNode: decommissioned, compromised). Taking it
// out of the node table at once would give its modules to other nodes while it still runs them:
// two connections to each of its devices until it notices. So its entry stays, marked Removing,
// and keeps its modules placed on it; its certificates are revoked and it leaves the Raft
// configuration, so no leader reaches it any more, and a node that no leader reaches stops its
// modules after CutOffAfter (core's cut-off), as one cut off by a partition does. The leader
// releases the entry once the node has been out of reach that long and removalMargin more; only
// then do the others start its modules. A node that is down or left by itself (its modules
// already stopped or moved) goes at once.

// removalMargin is the time a node cut off is given to stop its modules, beyond CutOffAfter: its
// check runs every 200 ms, and each module's stop takes a moment.
const removalMargin = time.Second

// removalHold is how long the leader keeps a removed node's entry.
func (s *Store) removalHold() time.Duration { return s.CutOffAfter() + removalMargin }

// heldNode is what a leader knows of a node marked Removing.
type heldNode struct {
	marked time.Time // when this leader first saw it marked
	out    time.Time // when it first saw it marked and out of the Raft configuration
}

// releaseRemoved drops the entries marked Removing that have been out of the Raft configuration
// long enough. held is this leader's own account: a new leader waits the whole hold again (it
// cannot tell when an earlier one began). A node still in the configuration long after it was
// marked (the leader that marked it lost leadership before it removed it) is removed from it here.
func (s *Store) releaseRemoved(ctx context.Context, held map[string]*heldNode) {
	now := time.Now()
	marked := map[string]bool{}
	var servers []raft.Server
	for _, n := range s.fsm.Nodes() {
		if !n.Removing || n.ID == s.cfg.NodeID {
			continue
		}
		if len(marked) == 0 {
			var err error
			if servers, err = s.configuration(); err != nil {
				return
			}
		}
		marked[n.ID] = true
		h := held[n.ID]
		if h == nil {
			h = &heldNode{marked: now}
			held[n.ID] = h
		}
		if slices.ContainsFunc(servers, func(srv raft.Server) bool { return string(srv.ID) == n.ID }) {
			if now.Sub(h.marked) < s.removalHold() {
				continue // RemoveNode is taking it out
			}
			if err := s.raft.RemoveServer(raft.ServerID(n.ID), 0, s.cfg.ApplyTimeout).Error(); err != nil {
				s.log.Warn("could not remove a node marked for removal from the Raft configuration", "id", n.ID, "error", err)
				continue
			}
			s.log.Info("node removed", "id", n.ID)
			continue
		}
		if h.out.IsZero() {
			h.out = now
		}
		if now.Sub(h.out) < s.removalHold() {
			continue
		}
		if err := s.applyLocal(ctx, nodeReleaseCommand(n.ID)); err != nil {
			s.log.Warn("could not release a removed node's modules", "id", n.ID, "error", err)
			continue
		}
		s.log.Info("removed node released: its modules move to the other nodes", "id", n.ID)
	}
	for id := range held {
		if !marked[id] {
			delete(held, id)
		}
	}
}

// keepsMajority refuses an operator's removal of a voter that would leave servers without a
// majority of live voters: the change could never commit, the leader would step down, and no
// leader could be elected until a dead voter came back (every node cut off, every module
// stopped). The leader's own removal of a node down too long has the same rule (checkHealth).
// Removing the dead voters first keeps the majority at every step.
func (s *Store) keepsMajority(servers []raft.Server, id raft.ServerID) error {
	voters, live, target := 0, 0, false
	var down []string
	for _, srv := range servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		if srv.ID == id {
			target = true
			continue
		}
		voters++
		if srv.ID == s.id || s.live(srv.ID) {
			live++
		} else {
			down = append(down, string(srv.ID))
		}
	}
	if !target || live >= voters/2+1 {
		return nil
	}
	return fmt.Errorf("%w: removing %s would leave %d live voters of %d, no majority (down: %s), and the cluster without a leader; remove the down nodes first, or bring them back",
		ErrMembership, id, live, voters, strings.Join(down, ", "))
}
