package raftfsm

import (
	"fmt"

	"github.com/placeos-go/engine/errkind"
)

var (
	// ErrNoLeader is returned by writes on a node that cannot reach a leader, typically because it
	// is cut off from the majority of the cluster.
	ErrNoLeader = errkind.New(errkind.Unavailable, "no leader: this node is not part of a majority")
	// ErrNotLeader is returned by leader-only calls (ApplyForwarded) made on a follower.
	ErrNotLeader = errkind.New(errkind.Unavailable, "this node is not the leader")
	// ErrClosed is returned after Close.
	ErrClosed = errkind.New(errkind.Unavailable, "raft store is closed")
	// ErrBadCommand is wrapped by every command that cannot be decoded: malformed JSON, an unknown
	// version or an unknown op.
	ErrBadCommand = errkind.New(errkind.BadRequest, "bad raft command")
	// ErrUnknownNode is returned for a node id that is not in the node table or configuration.
	ErrUnknownNode = errkind.New(errkind.NotFound, "unknown node")
	// ErrMembership is returned for a membership change that is refused (the last voter leaving,
	// replacing the leader's own entry, a stale or future ready epoch).
	ErrMembership = errkind.New(errkind.Conflict, "membership change refused")
	// ErrLastVoter is the last voter asked to leave: it is the cluster, and stays in it.
	ErrLastVoter = fmt.Errorf("%w: the last voter cannot leave", ErrMembership)
	// errLeaderItself refuses a removal of the leader by the leader: another node cannot make it
	// go; its own Leave hands the lead over first, or takes itself out (leaveAsLeader).
	errLeaderItself = fmt.Errorf("%w: the leader cannot remove itself; it must leave (transferring leadership first)", ErrMembership)
	// ErrRevoked refuses a join with a certificate that was revoked (its node was removed).
	ErrRevoked = errkind.New(errkind.Forbidden, "the certificate was revoked: its node was removed from the cluster")
	// ErrLiveMember refuses a join that would move, or replace, a member the leader is in contact
	// with.
	ErrLiveMember = errkind.New(errkind.Conflict, "membership change refused: a live member")
	// ErrNoForwarder is returned by a follower write when no Forwarder was configured.
	ErrNoForwarder = errkind.New(errkind.Unavailable, "this node cannot forward writes to the leader")
	// ErrConfig is returned by Open for a missing or invalid setting.
	ErrConfig = errkind.New(errkind.BadRequest, "invalid raft configuration")
	// ErrCorrupt: the node's Raft files cannot be read.
	ErrCorrupt = errkind.New(errkind.Internal, "raft data is damaged")
)
