package peer

import "github.com/placeos-go/engine/errkind"

// ErrNodesOnly refuses a node-to-node route to anyone but another node.
var ErrNodesOnly = errkind.New(errkind.Forbidden, "node-to-node route: the certificate names no node of the cluster")

// ErrNotClusterPort: the address a node called answers, but not as a cluster port (plain HTTP
// where TLS was expected: most likely a member's client API given to --join).
var ErrNotClusterPort = errkind.New(errkind.Unavailable, "not a cluster port")
