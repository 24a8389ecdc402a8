package peer

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/placeos-go/engine/raftfsm"
)

// Roster is the cluster's membership as this node sees it (raftfsm.Store): its node table and
// its Raft configuration. Over TLS it decides which certificates the cluster port serves.
type Roster interface {
	// ID is this node's id.
	ID() string
	// Nodes is the replicated node table.
	Nodes() []raftfsm.Node
	// Servers is the Raft configuration, the latest this node stored (committed or not).
	Servers() ([]raftfsm.Server, error)
}

// standing is what r says of node: whether it is a member (in the node table or the Raft
// configuration) and whether this node lists itself at all. Either view counts, because a join
// changes the configuration first and the table after it, and a removal the same way.
func standing(r Roster, node string) (member, selfListed bool) {
	self := r.ID()
	for _, n := range r.Nodes() {
		member = member || n.ID == node
		selfListed = selfListed || n.ID == self
	}
	servers, _ := r.Servers() // an error is a Raft that stopped: it lists nobody
	for _, s := range servers {
		member = member || s.ID == node
		selfListed = selfListed || s.ID == self
	}
	return member, selfListed
}

// admitRaft is the rule for Raft connections: a member, or anyone of the CA while this node does
// not list itself (it is joining, and the leader's first RPCs come before the table that names the
// leader has replicated here). See the package comment.
func admitRaft(r Roster, node string) error {
	member, self := standing(r, node)
	if member || !self {
		return nil
	}
	return notMember(node)
}

// admitMember is the rule for the exec protocol and the HTTP routes but the join: members only.
func admitMember(r Roster, node string) error {
	if member, _ := standing(r, node); member {
		return nil
	}
	return notMember(node)
}

func notMember(node string) error {
	return fmt.Errorf("%w: the certificate names node %q", ErrNotMember, node)
}

var errNoRoster = errors.New("the membership is not known yet (the node is starting)")

// recheckEvery is how often a long-lived Raft or exec connection checks again that its node is
// still admitted: a node removed from the cluster loses the connections it had within that time.
const recheckEvery = time.Second

// memberConn is a Raft or exec connection over TLS that stays open only while its node is
// admitted: every recheckEvery, when data arrives, it asks again, and closes itself when not.
// Only its reader calls Read (the Raft transport's and the exec session's one goroutine).
type memberConn struct {
	net.Conn
	admit func() error
	next  time.Time
	gone  func(error) // says why the connection was dropped
}

func (c *memberConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		if now := time.Now(); now.After(c.next) {
			if why := c.admit(); why != nil {
				_ = c.Conn.Close()
				c.gone(why)
				return 0, why
			}
			c.next = now.Add(recheckEvery)
		}
	}
	return n, err
}
