package raftfsm

import (
	"time"

	"github.com/hashicorp/raft"
)

// A node cut off from the leader (a partition, a long pause) cannot tell whether the others have
// marked it down and given its modules to other nodes; once it has gone as long without a leader
// as they take to do that, it must assume they have (core stops its modules). LeaderContact and
// CutOffAfter are what it measures that by.

// LeaderContact is when this node last knew a leader: now while it leads; else the last time a
// leader contacted it, or when it stopped leading, or when it opened, whichever is latest (a node
// that just lost the lead, or just started, has not been without a leader for long).
func (s *Store) LeaderContact() time.Time {
	if s.raft.State() == raft.Leader {
		return time.Now()
	}
	t := s.raft.LastContact()
	for _, ns := range []int64{s.ledUntil.Load(), s.openedAt.UnixNano()} {
		if u := time.Unix(0, ns); u.After(t) {
			t = u
		}
	}
	return t
}

// CutOffAfter is how long a node may go without a leader's contact before it must assume the
// others have marked it down and given its modules to other nodes: the leader's DownAfter, and
// never less than an election takes.
func (s *Store) CutOffAfter() time.Duration { return max(s.cfg.DownAfter, s.timing.leaderWait) }

// DownAfter is how long the leader waits, hearing nothing from a node, before it marks the node
// down and gives its modules to other nodes.
func (s *Store) DownAfter() time.Duration { return s.cfg.DownAfter }

// HeardFromLeaderSince reports whether a leader has reached this node since t: a leader's
// contact after t, or, while this node leads, a quorum confirming now that it still does. A node
// that resumes from a freeze believes for a moment that it still leads (then that it just stopped
// leading, which LeaderContact counts as contact); this asks the others instead. It blocks for a
// round trip to the voters while this node leads.
func (s *Store) HeardFromLeaderSince(t time.Time) bool {
	if s.raft.State() == raft.Leader {
		return s.raft.VerifyLeader().Error() == nil
	}
	return s.raft.LastContact().After(t)
}
