package main

import (
	"context"

	"github.com/placeos-go/engine/httpapi"
	"github.com/placeos-go/engine/peer"
)

// removedNode is the node as the client API sees it, once the node learnt it was removed from
// the cluster: not ready, and GET /cluster answers why rather than its stale table (every node
// up, no leader), which is all a removed node still knows.
type removedNode struct {
	httpapi.Node
	removal *peer.RemovalWatch
}

func (n removedNode) Ready() bool { return n.removal.Removed() == nil && n.Node.Ready() }

func (n removedNode) Cluster(ctx context.Context) (any, error) {
	if err := n.removal.Removed(); err != nil {
		return nil, err
	}
	return n.Node.Cluster(ctx)
}
