package peer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
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
	// Revoked reports whether the certificate of that fingerprint (clustertls.Fingerprint) was
	// revoked: its node was removed. It is refused everywhere, whatever node it names.
	Revoked(cert string) bool
}

// standing is what r says of node: whether it is a member (in the node table or the Raft
// configuration) and whether this node lists itself at all. Either view counts, because a join
// changes the configuration first and the table after it, and a removal the same way.
func standing(r Roster, node string) (member, selfListed bool) {
	self := r.ID()
	for _, n := range r.Nodes() {
		if n.Removing { // removed: the entry only keeps its modules in place for a moment
			continue
		}
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

// leaveRefusal is the refusal of a removal of node, which is not a member: 409 while its entry is
// held for an earlier removal (listed as removing until its modules move), else 404.
func leaveRefusal(r Roster, node string) error {
	for _, n := range r.Nodes() {
		if n.ID == node && n.Removing {
			return errkind.Wrap(errkind.Conflict, nil, "node %q is being removed already: out of the Raft configuration, its entry kept (state removing) until it has been out of the leader's reach for the cut-off time, then its modules move", node)
		}
	}
	return errkind.Wrap(errkind.EntityNotFound, nil, "node %q is not a member of the cluster (neither in the node table nor in the Raft configuration)", node)
}

// peerCert is who a TLS peer is: the node its certificate names, and that certificate's
// fingerprint.
type peerCert struct{ node, cert string }

func peerOf(cs *tls.ConnectionState) peerCert {
	return peerCert{node: clustertls.PeerNode(cs), cert: clustertls.PeerFingerprint(cs)}
}

// name is the node p names ("" for none: plain TCP).
func (p *peerCert) name() string {
	if p == nil {
		return ""
	}
	return p.node
}

// admitRaft is the rule for Raft connections: a member, or anyone of the CA while this node does
// not list itself (it is joining, and the leader's first RPCs come before the table that names the
// leader has replicated here); never a revoked certificate. See the package comment.
func admitRaft(r Roster, p peerCert) error {
	if err := notRevoked(r, p); err != nil {
		return err
	}
	member, self := standing(r, p.node)
	if member || !self {
		return nil
	}
	return notMember(p.node)
}

// admitMember is the rule for the exec protocol and the HTTP routes but the join: members only,
// never a revoked certificate.
func admitMember(r Roster, p peerCert) error {
	if err := notRevoked(r, p); err != nil {
		return err
	}
	if member, _ := standing(r, p.node); member {
		return nil
	}
	return notMember(p.node)
}

// notRevoked is the one rule of every route, the join's included.
func notRevoked(r Roster, p peerCert) error {
	if p.cert != "" && r.Revoked(p.cert) {
		return fmt.Errorf("%w: certificate %s names node %q", ErrRevoked, p.cert, p.node)
	}
	return nil
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
