package main

import (
	"context"
	"encoding/json"

	"github.com/placeos-go/engine/core"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
	"github.com/placeos-go/engine/raftfsm"
)

// clusterGlue serves httpapi's Cluster and Manager from the Raft store and core.
type clusterGlue struct {
	store *raftfsm.Store
	core  *core.Core
	leave func() // this node leaves: stop the process after a graceful leave
}

func (g *clusterGlue) ExecLocal(ctx context.Context, moduleID, fn string, args json.RawMessage, userID, requestID string) (json.RawMessage, int, error) {
	return g.core.ExecLocal(ctx, moduleID, fn, args, userID, requestID)
}

func (g *clusterGlue) Join(ctx context.Context, id, raftAddr, httpAddr string) error {
	return g.store.Join(ctx, id, raftAddr, httpAddr)
}

// Leave removes another node, or, for this node, starts a graceful leave and shutdown.
func (g *clusterGlue) Leave(ctx context.Context, id string) error {
	if id != "" && id != g.store.ID() {
		return g.store.RemoveNode(ctx, id)
	}
	g.leave()
	return nil
}

func (g *clusterGlue) ApplyForwarded(ctx context.Context, cmd []byte) error {
	return g.store.ApplyForwarded(ctx, cmd)
}

// clusterNode is one node in GET /api/engine/v2/cluster (PROTOCOL §6).
type clusterNode struct {
	ID       string `json:"id"`
	HTTPAddr string `json:"http_addr"`
	RaftAddr string `json:"raft_addr"`
	State    string `json:"state"`
	Ready    bool   `json:"ready"`
	Leader   bool   `json:"leader"`
	Modules  int    `json:"modules"`
}

func (g *clusterGlue) Info(context.Context) (any, error) {
	leader, _ := g.store.Leader()
	epoch := g.store.Epoch()
	nodes := g.store.Nodes()
	var up []string
	for _, n := range nodes {
		if n.Up {
			up = append(up, n.ID)
		}
	}
	ring := placement.New(up)
	counts := map[string]int{}
	m, _ := g.store.Model()
	for id, mod := range m.Modules {
		if mod.Running {
			counts[ring.Owner(id)]++
		}
	}
	out := make([]clusterNode, 0, len(nodes))
	ready := len(nodes) > 0
	for _, n := range nodes {
		cn := clusterNode{ID: n.ID, HTTPAddr: n.HTTPAddr, RaftAddr: n.RaftAddr, State: "down",
			Ready: n.ReadyFor(epoch), Leader: n.ID == leader, Modules: counts[n.ID]}
		if n.Up {
			cn.State = "up"
			ready = ready && cn.Ready
		}
		out = append(out, cn)
	}
	return map[string]any{"leader": leader, "epoch": epoch, "ready": ready, "nodes": out}, nil
}

func (g *clusterGlue) Model() (*model.Model, uint64) { return g.store.Model() }

func (g *clusterGlue) Leader(context.Context) (string, error) {
	if g.store.IsLeader() {
		return "", nil
	}
	if _, addr := g.store.Leader(); addr != "" {
		return addr, nil
	}
	return "", errkind.Wrap(errkind.Unavailable, nil, "no leader: this node is not part of a majority")
}

func (g *clusterGlue) Apply(ctx context.Context, f *model.File) error { return g.store.Apply(ctx, f) }

func (g *clusterGlue) Delete(ctx context.Context, kind model.Kind, id string) error {
	return g.store.Delete(ctx, kind, id)
}

func (g *clusterGlue) Pull(ctx context.Context, repoID string) (any, error) {
	return g.core.Pull(ctx, repoID)
}

func (g *clusterGlue) Recompile(ctx context.Context, driverID string) (any, error) {
	return g.core.Recompile(ctx, driverID)
}
