package core

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// peerStatusTimeout bounds asking another node for its status: a node that does not answer in
// time is listed with the error, so that one sick node never holds up the whole answer.
const peerStatusTimeout = 3 * time.Second

// errRemoving is the status of a node an operator removed while it was up, for the moment its
// entry is held (raftfsm's removal.go): its certificate is revoked, so it is not asked.
const errRemoving = "the node was removed: its modules move to the other nodes once it has stopped them (within seconds)"

// NodeStatusOf is one node in ClusterStatus: its status document as it answered it, or why
// there is none.
type NodeStatusOf struct {
	Node  string `json:"node"`
	State string `json:"state"` // up | down | removing, as the cluster document says
	// ThisNode marks the node that answered: the one pull and recompile act on.
	ThisNode bool            `json:"this_node,omitempty"`
	Status   json.RawMessage `json:"status,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// ClusterStatus is every node's status (NodeStatus), in the cluster document's order: this
// node's own, the others' asked over the cluster port at once. A node that is down or does not
// answer is listed with the reason.
func (c *Core) ClusterStatus(ctx context.Context) (any, error) {
	own, err := c.ownStatus(ctx)
	if err != nil {
		return nil, err
	}
	cl := c.cfg.Cluster
	if cl == nil {
		return map[string]any{"nodes": []NodeStatusOf{own}}, nil
	}
	nodes := cl.Nodes()
	out := make([]NodeStatusOf, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		out[i] = NodeStatusOf{Node: n.ID, State: "down"}
		switch {
		case n.ID == c.cfg.NodeID:
			out[i] = own
		case !n.Up:
			out[i].Error = "the node is down"
		case n.Removing:
			out[i].State = "removing"
			out[i].Error = errRemoving
		case c.cfg.Peers == nil || n.RaftAddr == "":
			out[i].State = "up"
			out[i].Error = "the node has no cluster address to ask"
		default:
			out[i].State = "up"
			wg.Add(1)
			go func(entry *NodeStatusOf, addr string) {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, peerStatusTimeout)
				defer cancel()
				raw, err := c.cfg.Peers.NodeStatus(pctx, addr)
				if err != nil {
					entry.Error = errkind.Classify(err).Message
					return
				}
				entry.Status = raw
			}(&out[i], n.RaftAddr)
		}
	}
	wg.Wait()
	return map[string]any{"nodes": out}, nil
}

// ownStatus is this node's NodeStatus as a ClusterStatus entry.
func (c *Core) ownStatus(ctx context.Context) (NodeStatusOf, error) {
	st, err := c.NodeStatus(ctx)
	if err != nil {
		return NodeStatusOf{}, err
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return NodeStatusOf{}, err
	}
	return NodeStatusOf{Node: c.cfg.NodeID, State: "up", ThisNode: true, Status: raw}, nil
}
