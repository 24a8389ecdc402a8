package peer

import "github.com/placeos-go/engine/errkind"

// ErrNodesOnly refuses a node-to-node route to anyone but another node.
var ErrNodesOnly = errkind.New(errkind.Forbidden, "node-to-node route: the certificate names no node of the cluster")

// ErrNotClusterPort: the address a node called answers, but not as a cluster port (plain HTTP
// where TLS was expected: most likely a member's client API given to --join).
var ErrNotClusterPort = errkind.New(errkind.Unavailable, "not a cluster port")

// ErrNotMember refuses a certificate of the cluster's CA whose node is not a member of the
// cluster (never joined, left, or removed): everywhere but the join route.
var ErrNotMember = errkind.New(errkind.Forbidden, "cluster port: the certificate's node is not a member of the cluster")

// ErrBrowserRequest refuses a request to the cluster port that a browser could have sent (an
// Origin or Sec-Fetch-* header, a POST body that is not JSON, a DNS name as Host on an open port):
// nodes never send one.
var ErrBrowserRequest = errkind.New(errkind.Forbidden, "node-to-node route: refused a request a web browser could have sent")

// ErrRevoked refuses a certificate that was revoked: its node was removed from the cluster
// (raftfsm.Store.RemoveNode). Everywhere, the join route included.
var ErrRevoked = errkind.New(errkind.Forbidden, "cluster port: the certificate was revoked (its node was removed from the cluster)")
