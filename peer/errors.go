package peer

import "github.com/placeos-go/engine/errkind"

// ErrNodesOnly refuses a node-to-node route to anyone but another node.
var ErrNodesOnly = errkind.New(errkind.Forbidden, "node-to-node route: the certificate names no node of the cluster")
