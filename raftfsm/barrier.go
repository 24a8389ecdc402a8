package raftfsm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// Barriers. A follower's model lags the leader's by the entries on their way to it, and a node
// that starts replays an old model before the leader brings it up to date: seconds, or minutes
// for a node that was away, during which every model it passes through looks current. A barrier
// is a no-op command logged through the leader with a token; once this node's FSM applies it,
// this node has applied everything the cluster had committed when the barrier was asked for.
//
// A node is CaughtUp once a barrier asked for after it opened has come back (and the node table no
// longer says it is ready for the epoch it was ready for before it stopped: markStarting): before
// that the reconciler must not act on its model (it would start modules that were deleted long
// ago, with their old settings), and a model file applied at start would compare against an old
// model.

// barriers are the barriers this node waits for, by token.
type barriers struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

// applied is the FSM's barrier hook: it ends the wait for token, if this node asked for it.
func (b *barriers) applied(token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.waiting[token]; ok {
		close(ch)
		delete(b.waiting, token)
	}
}

// Barrier returns once this node has applied everything the cluster committed before the call:
// it logs a barrier through the leader (here, or forwarded) and waits for this node's FSM to
// apply it. It fails as a write fails without a leader, or when ctx ends first.
//
// A leader of a version before barriers (a rolling upgrade) refuses the command; then the commit
// index this node has heard of, applied here, is the next best sign (it may lag the leader's by
// a heartbeat). Every caller gets that fallback: the node's catch-up at start, and a follower's
// PATCH, which failed (400, "unknown op") until the leader was upgraded.
func (s *Store) Barrier(ctx context.Context) error {
	err := s.logBarrier(ctx)
	if !olderLeader(err) {
		return err
	}
	if s.olderLeader.CompareAndSwap(false, true) {
		s.log.Info("the leader does not know barriers (an older version): this node goes by the commit index it has heard of until the leader is upgraded", "error", err)
	}
	return s.awaitCommitApplied(ctx)
}

// awaitCommitApplied returns once this node knows a leader and has applied the commit index it
// knew at the call, or fails when ctx ends first.
func (s *Store) awaitCommitApplied(ctx context.Context) error {
	target := s.raft.CommitIndex()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, lid := s.raft.LeaderWithID(); lid != "" && s.raft.AppliedIndex() >= target {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return errkind.Wrap(errkind.Timeout, ctx.Err(), "raftfsm: the commit index this node heard of is not applied here yet")
		case <-s.ctx.Done():
			return ErrClosed
		}
	}
}

// logBarrier logs a barrier through the leader and waits for this node's FSM to apply it.
func (s *Store) logBarrier(ctx context.Context) error {
	var t [16]byte
	_, _ = rand.Read(t[:])
	token := hex.EncodeToString(t[:])
	ch := make(chan struct{})
	s.barriers.mu.Lock()
	s.barriers.waiting[token] = ch
	s.barriers.mu.Unlock()
	defer func() {
		s.barriers.mu.Lock()
		delete(s.barriers.waiting, token)
		s.barriers.mu.Unlock()
	}()
	if err := s.propose(ctx, barrierCommand(token)); err != nil {
		return fmt.Errorf("raftfsm: barrier: %w", err)
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return errkind.Wrap(errkind.Timeout, ctx.Err(), "raftfsm: barrier logged but not applied on this node yet")
	case <-s.ctx.Done():
		return ErrClosed
	}
}

// olderLeader reports whether err is a leader's refusal of a command it does not know: a bad
// request is the only way it refuses a barrier or set_node_starting (ErrBadCommand, which
// crosses nodes as its kind).
func olderLeader(err error) bool { return errors.Is(err, errkind.BadRequest) }

// markStarting clears this node's readiness in the node table, where it still says the node is
// ready for the epoch it was ready for before it stopped: it is not until its first pass.
// A barrier after it makes this node's own copy show it, too.
func (s *Store) markStarting(ctx context.Context) error {
	if n, ok := s.fsm.Node(s.cfg.NodeID); !ok || n.ReadyEpoch == 0 {
		return nil
	}
	if err := s.propose(ctx, setNodeStartingCommand(s.cfg.NodeID)); err != nil {
		return err
	}
	return s.Barrier(ctx)
}

// CaughtUp reports whether a barrier asked for after this node opened has been applied here
// (catchUp): whether its model is the cluster's current one, as of that moment.
func (s *Store) CaughtUp() bool { return s.caughtUp.Load() }

// catchUp asks for barriers until one is applied, then marks the node caught up and wakes the
// model's watchers, whose next look sees CaughtUp. A node without a leader (an election, a
// cluster that lost its majority, a new node not joined yet) keeps asking.
func (s *Store) catchUp() {
	defer s.wg.Done()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		err := s.Barrier(ctx)
		if err == nil {
			if err = s.markStarting(ctx); olderLeader(err) {
				err = nil // nor this command: the table keeps the old readiness until the leader is upgraded
			}
		}
		cancel()
		if err == nil {
			s.caughtUp.Store(true)
			s.log.Info("caught up with the cluster", "took", time.Since(start).Round(time.Millisecond))
			s.broadcast()
			return
		}
		if s.ctx.Err() != nil {
			return
		}
		if attempt == 1 || attempt%20 == 0 {
			s.log.Debug("not caught up with the cluster yet; asking again", "attempt", attempt, "error", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}
