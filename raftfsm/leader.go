package raftfsm

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// monitorLeadership turns Raft's leadership notifications into at most one running leader loop.
func (s *Store) monitorLeadership() {
	defer s.wg.Done()
	var running *leaderRun
	stop := func() {
		if running != nil {
			running.cancel()
			<-running.done
			running = nil
			s.setLeading(false)
		}
	}
	defer stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case isLeader := <-s.raftNotify:
			switch {
			case !isLeader && running != nil:
				s.log.Info("lost leadership")
				stop()
			case isLeader && running == nil:
				running = s.startLeaderLoop()
			}
		}
	}
}

type leaderRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *Store) startLeaderLoop() *leaderRun {
	ctx, cancel := context.WithCancel(s.ctx)
	run := &leaderRun{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		s.leaderLoop(ctx)
	}()
	return run
}

func (s *Store) setLeading(v bool) {
	if s.leading.Swap(v) == v {
		return
	}
	if !v {
		s.ledUntil.Store(time.Now().UnixNano())
	}
	// Keep only the latest value in the channel: drain, then send.
	select {
	case <-s.leaderCh:
	default:
	}
	s.leaderCh <- v
	s.broadcast()
}

// leaderLoop runs the leader's duties until ctx is cancelled (leadership lost or Close).
func (s *Store) leaderLoop(ctx context.Context) {
	// The Barrier makes the FSM reflect everything committed by earlier leaders before this one
	// judges membership or readiness from it.
	for {
		err := s.raft.Barrier(s.cfg.ApplyTimeout).Error()
		if err == nil {
			break
		}
		s.log.Warn("barrier after gaining leadership failed; retrying", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.timing.heartbeat):
		}
	}
	since := time.Now()
	s.health.reset()
	s.log.Info("leading the cluster", "epoch", s.fsm.Epoch())
	s.ensureSelf(ctx)
	s.setLeading(true)

	t := time.NewTicker(s.timing.check)
	defer t.Stop()
	held := map[string]*heldNode{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.checkHealth(ctx, since)
			s.releaseRemoved(ctx, held)
			s.ensureSelf(ctx) // a certificate rotated while leading (SIGHUP) is recorded too
		}
	}
}

// ensureSelf keeps the leader's own node table entry current (first leadership after bootstrap,
// a restart with a new HTTP address or new labels, a new certificate). A leader is a voter
// whatever its flag says.
func (s *Store) ensureSelf(ctx context.Context) {
	if s.leaving.Load() {
		return // it takes its own entry out (leaveAsLeader)
	}
	n, ok := s.fsm.Node(s.cfg.NodeID)
	me := s.self()
	me.NonVoter = false
	if ok && n.Up && n.RaftAddr == me.RaftAddr && n.HTTPAddr == me.HTTPAddr && !n.NonVoter && maps.Equal(n.Labels, me.Labels) && n.hasCert(me.Cert) {
		return
	}
	if err := s.applyLocal(ctx, nodeUpsertCommand(me)); err != nil {
		s.log.Warn("could not record this node in the node table", "error", err)
	}
}

// checkHealth is one pass of the failure detector.
func (s *Store) checkHealth(ctx context.Context, since time.Time) {
	servers, err := s.configuration()
	if err != nil {
		return
	}
	now := time.Now()
	nodes := map[string]Node{}
	for _, n := range s.fsm.Nodes() {
		nodes[n.ID] = n
	}
	voters, healthy := 0, 0
	var stale []raft.Server
	for _, srv := range servers {
		if srv.Suffrage == raft.Voter {
			voters++
		}
		if srv.ID == s.id {
			healthy++
			continue
		}
		p := s.health.get(srv.ID)
		contact := p.lastContact
		if contact.Before(since) {
			contact = since
		}
		lastFailure := p.lastFailure
		if lastFailure.Before(since) {
			lastFailure = since
		}
		if !p.failing && srv.Suffrage == raft.Voter {
			healthy++
		}
		n, known := nodes[string(srv.ID)]
		// A heartbeat that failed because the node's port refused the connection, after the last
		// contact: its process is gone, and waiting DownAfter would only keep its rooms dark.
		gone := p.failing && s.health.refusedAfter(srv.Address, contact)
		switch {
		case !known:
		case p.failing && n.Up && (gone || now.Sub(contact) >= s.cfg.DownAfter):
			s.log.Warn("node down: heartbeats failing", "id", srv.ID, "last_contact", p.lastContact, "port_closed", gone)
			if err := s.applyLocal(ctx, SetNodeUpCommand(n.ID, false)); err != nil {
				s.log.Warn("could not mark node down", "id", srv.ID, "error", err)
			}
		case !p.failing && !n.Up && (p.resumed || now.Sub(lastFailure) >= s.timing.quiet):
			s.log.Info("node up: heartbeats answered", "id", srv.ID)
			if err := s.applyLocal(ctx, SetNodeUpCommand(n.ID, true)); err != nil {
				s.log.Warn("could not mark node up", "id", srv.ID, "error", err)
			}
		}
		if p.failing && now.Sub(contact) >= s.cfg.RemoveAfter {
			stale = append(stale, srv)
		}
	}
	for _, srv := range stale {
		id := srv.ID
		// Removing a failed voter must leave a configuration whose live voters are a majority;
		// a non-voter is no part of the quorum.
		if srv.Suffrage == raft.Voter && healthy < (voters-1)/2+1 {
			s.log.Warn("node down too long but removing it would break quorum; keeping it", "id", id)
			continue
		}
		s.log.Warn("removing node that stayed down", "id", id, "after", s.cfg.RemoveAfter)
		if err := s.remove(ctx, id, false); err != nil { // not revoked: it may come back
			s.log.Warn("could not remove node", "id", id, "error", err)
			continue
		}
		if srv.Suffrage == raft.Voter {
			voters--
		}
	}
}

// keepEntryCurrent re-joins this node (through the leader) when the node table holds it with
// addresses, labels or a vote other than its own, e.g. after a restart with a new --http-addr or
// --labels but no --join, so that forwarding and routing reach it at its new address and
// placement sees its labels. The leader fixes its own entry in ensureSelf.
func (s *Store) keepEntryCurrent() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	// The certificate last sent: a leader of an older version does not record it, and would be
	// sent it every second otherwise.
	var certSent string
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		n, ok := s.fsm.Node(s.cfg.NodeID)
		if !ok || s.raft.State() != raft.Follower {
			continue
		}
		me := s.self()
		if s.current(n) && (n.hasCert(me.Cert) || me.Cert == certSent) {
			continue
		}
		if id, _ := s.Leader(); id == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.ApplyTimeout)
		err := s.Join(ctx, me)
		cancel()
		if err != nil {
			s.log.Warn("could not update this node's entry in the node table", "error", err)
		} else {
			certSent = me.Cert
			s.log.Info("updated this node's entry in the node table", "http_addr", s.cfg.HTTPAddr, "labels", s.cfg.Labels.String(), "voter", !s.cfg.NonVoter)
		}
	}
}

func (s *Store) consumeObservations() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case o := <-s.obsCh:
			switch d := o.Data.(type) {
			case raft.RaftState:
				s.cfg.Metrics.SetRaftState(d.String())
			case raft.LeaderObservation:
				if d.LeaderID != "" {
					s.cfg.Metrics.RaftLeaderChange()
				}
			default:
				s.health.observe(o, time.Now())
			}
		}
	}
}

// health is the leader's view of each follower's heartbeats, fed by raft observations, and of
// the dials to them that were refused.
type health struct {
	mu      sync.Mutex
	peers   map[raft.ServerID]*peerHealth
	refusal map[raft.ServerAddress]time.Time // the latest refused dial to each address
}

type peerHealth struct {
	failing     bool      // the latest heartbeat failed
	resumed     bool      // heartbeats resumed after failing (a positive "it answers" signal)
	lastContact time.Time // last successful contact known
	lastFailure time.Time
}

func newHealth() *health {
	return &health{peers: map[raft.ServerID]*peerHealth{}, refusal: map[raft.ServerAddress]time.Time{}}
}

func (h *health) refused(addr raft.ServerAddress, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.refusal[addr] = now
}

// refusedAfter reports a refused dial to addr later than t.
func (h *health) refusedAfter(addr raft.ServerAddress, t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.refusal[addr].After(t)
}

func (h *health) observe(o raft.Observation, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		p := h.peer(d.PeerID)
		p.failing, p.resumed, p.lastFailure = true, false, now
		if d.LastContact.After(p.lastContact) {
			p.lastContact = d.LastContact
		}
	case raft.ResumedHeartbeatObservation:
		p := h.peer(d.PeerID)
		p.failing, p.resumed, p.lastContact = false, true, now
	}
}

func (h *health) peer(id raft.ServerID) *peerHealth {
	p := h.peers[id]
	if p == nil {
		p = &peerHealth{}
		h.peers[id] = p
	}
	return p
}

// get returns a copy of the peer's health.
func (h *health) get(id raft.ServerID) peerHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p := h.peers[id]; p != nil {
		return *p
	}
	return peerHealth{}
}

func (h *health) forget(id raft.ServerID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.peers, id)
}

func (h *health) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.peers)
}
