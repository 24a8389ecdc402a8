package peer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
)

// ErrRemoved answers for a node that learnt it is no longer a member of the cluster.
var ErrRemoved = errkind.New(errkind.Unavailable, "this node was removed from the cluster")

// RemovalConfig configures a RemovalWatch. Roster and Leader are required.
type RemovalConfig struct {
	Logger hclog.Logger
	Roster Roster
	// Leader is the id of the leader this node follows, "" while it knows none.
	Leader func() string
	// Asker asks another member whether this node is still one (nil: only this node's own
	// Raft configuration is read).
	Asker *Client
	// Every is how often the watch looks (default 2 s).
	Every time.Duration
}

// RemovalWatch notices that this node is no longer a member of the cluster. A removed node is
// not told: the leader just stops talking to it, so the node sees a lost leader and, from its own
// stale table, every node up. The watch tells it apart: its Raft configuration, once listing it,
// no longer does; or, while it has no leader, another member's cluster port answers that it is
// not a member (403 not a member or certificate revoked over TLS, {"member": false} without).
// It does not stop the process: a service manager would start it again, and it would loop.
type RemovalWatch struct {
	cfg RemovalConfig
	log hclog.Logger

	mu     sync.Mutex
	listed bool   // the Raft configuration or the node table listed this node once
	by     string // who says it was removed; "" while it is a member
}

// NewRemovalWatch returns a watch; Run makes it look.
func NewRemovalWatch(cfg RemovalConfig) *RemovalWatch {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Every <= 0 {
		cfg.Every = 2 * time.Second
	}
	return &RemovalWatch{cfg: cfg, log: cfg.Logger.Named("membership")}
}

// Removed is the error this node answers with while it is not a member (nil while it is one),
// naming who said so and what to do.
func (w *RemovalWatch) Removed() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == "" {
		return nil
	}
	return fmt.Errorf("%w (%s): stop it, or wipe its data directory and join again", ErrRemoved, w.by)
}

// Run looks every cfg.Every until ctx ends.
func (w *RemovalWatch) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Every)
	defer t.Stop()
	for {
		w.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check looks once: it records the node removed (logging it once at ERROR) or a member again.
func (w *RemovalWatch) Check(ctx context.Context) {
	by := w.removedBy(ctx)
	if ctx.Err() != nil {
		return // stopping: the questions were cut short, their answers say nothing
	}
	w.mu.Lock()
	was := w.by
	w.by = by
	w.mu.Unlock()
	switch {
	case by != "" && was == "":
		w.log.Error("this node was removed from the cluster ("+by+"): stop it, or wipe its data directory and join again",
			"node", w.cfg.Roster.ID())
	case by == "" && was != "":
		w.log.Info("this node is a member of the cluster again", "node", w.cfg.Roster.ID())
	}
}

// removedBy says who holds that this node is no longer a member, "" for nobody.
func (w *RemovalWatch) removedBy(ctx context.Context) string {
	self := w.cfg.Roster.ID()
	// An error is a Raft that stopped, as it does when it applies its own removal: then only the
	// other members can tell.
	servers, err := w.cfg.Roster.Servers()
	inConfig, inTable := false, false
	for _, s := range servers {
		inConfig = inConfig || s.ID == self
	}
	for _, n := range w.cfg.Roster.Nodes() {
		inTable = inTable || n.ID == self
	}
	// A join adds a node to the configuration first, to the table after it: either listing it
	// means it was a member. The table counts for a node removed before the watch first looked
	// (its table, which no removal reaches, still lists it).
	w.mu.Lock()
	listed := w.listed || inConfig || inTable
	w.listed = listed
	w.mu.Unlock()
	switch {
	case !listed:
		return "" // joining: not a member yet, not removed either
	case err == nil && !inConfig:
		return "its Raft configuration no longer lists it"
	}
	if w.cfg.Leader() != "" || w.cfg.Asker == nil {
		return "" // a leader that still talks to this node has it in its configuration
	}
	// Cut off from any leader: removed, or a partition. A member that answers tells which.
	for _, n := range w.cfg.Roster.Nodes() {
		if n.ID == self || n.RaftAddr == "" {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, w.cfg.Every)
		member, err := w.cfg.Asker.IsMember(actx, n.RaftAddr, self, "")
		cancel()
		switch {
		case err == nil && !member:
			return fmt.Sprintf("node %s (%s) does not list it", n.ID, n.RaftAddr)
		case refusesMe(err):
			return fmt.Sprintf("node %s (%s) refuses it: %v", n.ID, n.RaftAddr, err)
		}
	}
	return ""
}

// refusesMe reports whether err is a member refusing this node's certificate as a non-member's
// or a revoked one (ErrNotMember, ErrRevoked on the other side).
func refusesMe(err error) bool {
	if err == nil || !errors.Is(err, errkind.Forbidden) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "not a member of the cluster") || strings.Contains(msg, "certificate was revoked")
}
