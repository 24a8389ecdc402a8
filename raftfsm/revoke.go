package raftfsm

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/raft"
)

// Certificate revocation. Over TLS a node is who its certificate names, and the CA may sign
// several certificates for one name (a rotation, a re-issue, a copy kept in a backup). Removing a
// node must refuse the certificates it held, yet leave a new certificate for the same name free
// to join: the node table records, per node, the fingerprints of the certificates it joined with
// (Member.Cert, Node.Certs), and a removal that revokes (Store.RemoveNode: an operator's) moves
// them to the revoked list, which the snapshot keeps and nothing empties. A node that leaves by
// itself (SIGTERM, to be restarted) or that the leader drops after RemoveAfter is not revoked: it
// comes back with the certificate it has.

// maxCerts bounds the fingerprints recorded for one node: rotations beyond it drop the oldest,
// which a removal then no longer revokes (a certificate rotated out that long ago is expected to
// have expired or been destroyed).
const maxCerts = 8

// Revocation is one revoked certificate, as the snapshot keeps it.
type Revocation struct {
	Cert string `json:"cert"`
	Node string `json:"node"`
}

// withCert is certs with cert recorded as the latest ("" records nothing: a join without TLS, or
// from an older node).
func withCert(certs []string, cert string) []string {
	if cert == "" || len(certs) > 0 && certs[len(certs)-1] == cert {
		return certs
	}
	out := slices.DeleteFunc(slices.Clone(certs), func(c string) bool { return c == cert })
	out = append(out, cert)
	if len(out) > maxCerts {
		out = out[len(out)-maxCerts:]
	}
	return out
}

// revoke adds n's certificates to the revoked list; f.mu is held (updateNodes).
func (f *FSM) revoke(n Node) {
	for _, c := range n.Certs {
		f.revoked[c] = n.ID
	}
}

// Revoked reports whether the certificate of that fingerprint was revoked, and for which node.
func (f *FSM) Revoked(cert string) (node string, revoked bool) {
	if cert == "" {
		return "", false
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	node, revoked = f.revoked[cert]
	return node, revoked
}

// Revocations lists the revoked certificates, sorted by fingerprint.
func (f *FSM) Revocations() []Revocation {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return revocations(f.revoked)
}

func revocations(m map[string]string) []Revocation {
	var out []Revocation
	for _, c := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Revocation{Cert: c, Node: m[c]})
	}
	return out
}

// hasCert reports whether n's recorded certificates hold cert.
func (n Node) hasCert(cert string) bool {
	return cert == "" || slices.Contains(n.Certs, cert)
}

// Revoked reports whether the certificate of that fingerprint was revoked (peer.Roster).
func (s *Store) Revoked(cert string) bool {
	_, revoked := s.fsm.Revoked(cert)
	return revoked
}

// Revocations lists the revoked certificates, sorted by fingerprint.
func (s *Store) Revocations() []Revocation { return s.fsm.Revocations() }

// admitJoin is the leader's check of a join before it changes the configuration: a revoked
// certificate never joins again, whichever member took the join.
func (s *Store) admitJoin(d Member) error {
	if node, revoked := s.fsm.Revoked(d.Cert); revoked {
		return fmt.Errorf("%w: certificate %s of node %q cannot join as %q; issue the node a new certificate",
			ErrRevoked, d.Cert, node, d.ID)
	}
	return nil
}

// live reports whether the leader is in contact with the member id: its heartbeats do not fail,
// and the node table does not say it is down. A join must not move or replace such a member: the
// real node would lose the Raft log to whoever the join names, and stop its modules as cut off.
func (s *Store) live(id raft.ServerID) bool {
	if s.health.get(id).failing {
		return false
	}
	n, known := s.fsm.Node(string(id))
	return !known || n.Up
}
