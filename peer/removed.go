package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
)

// ErrNotInCluster answers for a node that found it is not a member of the cluster: it left or was
// removed, or it has no cluster at all, and nothing will make it one until an operator acts.
var ErrNotInCluster = errkind.New(errkind.Unavailable, "this node is not a member of the cluster")

// NotMemberState is the state such a node answers with (errkind.WithState): GET /ready and GET
// /cluster name it, and its answers carry no Retry-After.
const NotMemberState = "not a member"

// RemovalConfig configures a RemovalWatch. Roster and Leader are required.
type RemovalConfig struct {
	Logger hclog.Logger
	Roster Roster
	// Leader is the id of the leader this node follows, "" while it knows none.
	Leader func() string
	// Asker asks another member whether this node is still one (nil: only this node's own
	// Raft configuration is read).
	Asker *Client
	// Joins says the node asks to join on this start (--join): until the leader's entries reach
	// it, its Raft state may not list it (a new node has none), which is no sign of anything.
	Joins bool
	// Contacted reports whether a leader has reached this node since it started (nil: none has).
	// A node that joins counts its old table only then.
	Contacted func() bool
	// Every is how often the watch looks (default 2 s).
	Every time.Duration
}

// RemovalWatch notices that this node is not a member of the cluster. A removed node is not told:
// the leader just stops talking to it, so the node sees a lost leader and, from its own stale
// table, every node up; a node restarted without --join after it left, or after its removal
// reached it, waits for a leader that never comes. The watch tells them apart from a member that
// waits for its cluster: its Raft configuration, once listing it, no longer does; or it was started
// without --join, knows no leader, and its Raft configuration does not list it (or it has none);
// or, while it has no leader, the other members' cluster ports answer that it is not a member (403
// not a member or certificate revoked over TLS, {"member": false} without) and none that it is.
// It does not stop the process: a service manager would start it again, and it would loop.
type RemovalWatch struct {
	cfg RemovalConfig
	log hclog.Logger

	mu     sync.Mutex
	listed bool   // the Raft configuration or the node table listed this node once
	by     string // why it is not a member; "" while it is one
	hint   string // what to do about it
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

// NotMember is the error this node answers with while it is not a member (nil while it is one),
// saying why and what to do, in state NotMemberState.
func (w *RemovalWatch) NotMember() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.by == "" {
		return nil
	}
	return errkind.WithState(fmt.Errorf("%w (%s): %s", ErrNotInCluster, w.by, w.hint), NotMemberState)
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

// Check looks once: it records the node not a member (logging it once at ERROR) or a member
// again.
func (w *RemovalWatch) Check(ctx context.Context) {
	by, hint := w.notMemberBy(ctx)
	if ctx.Err() != nil {
		return // stopping: the questions were cut short, their answers say nothing
	}
	w.mu.Lock()
	was := w.by
	w.by, w.hint = by, hint
	w.mu.Unlock()
	switch {
	case by != "" && was == "":
		w.log.Error("this node is not a member of the cluster (" + by + "): " + hint)
	case by == "" && was != "":
		w.log.Info("this node is a member of the cluster again")
	}
}

// notMemberBy says why this node is not a member and what to do, "" for a member (or a node that
// cannot tell: joining, or cut off from the others).
func (w *RemovalWatch) notMemberBy(ctx context.Context) (by, hint string) {
	self := w.cfg.Roster.ID()
	// An error is a Raft that stopped, as it does when it applies its own removal: then only the
	// other members can tell.
	servers, err := w.cfg.Roster.Servers()
	nodes := w.cfg.Roster.Nodes()
	inConfig, inTable := false, false
	others := map[string]string{} // id → cluster port of the other members this node knows
	for _, s := range servers {
		inConfig = inConfig || s.ID == self
		if s.ID != self && s.RaftAddr != "" {
			others[s.ID] = s.RaftAddr
		}
	}
	for _, n := range nodes {
		inTable = inTable || n.ID == self
		if n.ID != self && n.RaftAddr != "" {
			others[n.ID] = n.RaftAddr // the table's address is the advertised one
		}
	}
	// A join adds a node to the configuration first, to the table after it: either listing it
	// means it was a member. The table counts for a node removed before the watch first looked
	// (its table, which no removal reaches, still lists it) — for a node that joins on this
	// start, only once a leader has reached it: one that left rejoins with its old table, and its
	// configuration lists it only once the leader's entries arrive.
	w.mu.Lock()
	listed := w.listed || inConfig || inTable && (!w.cfg.Joins || w.cfg.Contacted != nil && w.cfg.Contacted())
	w.listed = listed
	w.mu.Unlock()
	leader := w.cfg.Leader()
	switch {
	case err == nil && !inConfig && listed && leader == "":
		return "its Raft configuration no longer lists it", rejoinHint(others)
	case err == nil && !inConfig && !w.cfg.Joins && leader == "":
		// Started without --join and outside its own configuration: it left (SIGTERM) or its
		// removal reached it before it stopped, or it never had a cluster. Nothing but a join
		// adds a node, and a leader that had added it would be talking to it.
		if len(servers) == 0 {
			return "it has no Raft state and was started without --join or --bootstrap",
				"give --bootstrap to start a new cluster, or --join naming a member's cluster port (--raft-addr) to join one"
		}
		return "its Raft configuration does not list it, and it was started without --join", rejoinHint(others)
	case !listed:
		return "", "" // joining: not a member yet, not removed either
	case leader != "" || w.cfg.Asker == nil:
		return "", "" // a leader that still talks to this node has it in its configuration
	}
	// Cut off from any leader: removed, or a partition, or an election. The members that answer
	// tell which — but one that does not list this node may only be behind (down while this
	// node joined, or joining itself), so a member that lists it outweighs any that do not: a
	// healthy member that asked a lagging one first called itself removed for the length of an
	// election. A removed node is told so once no member it asks still lists it.
	ids := make([]string, 0, len(others))
	for id := range others {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		addr := others[id]
		actx, cancel := context.WithTimeout(ctx, w.cfg.Every)
		member, err := w.cfg.Asker.IsMember(actx, addr, self, "")
		cancel()
		switch {
		case err == nil && member:
			return "", ""
		case by != "":
		case err == nil:
			by = fmt.Sprintf("node %s (%s) does not list it", id, addr)
		case refusesMe(err):
			by = fmt.Sprintf("node %s (%s) refuses it: %v", id, addr, err)
		}
	}
	if by == "" {
		return "", ""
	}
	return by, rejoinHint(others)
}

// rejoinHint is what an operator does about a node that left or was removed, naming the cluster
// ports of the members it knew (addrs: id → address).
func rejoinHint(addrs map[string]string) string {
	join := "--join <a member's cluster port (--raft-addr)>"
	if len(addrs) > 0 {
		list := make([]string, 0, len(addrs))
		for _, a := range addrs {
			list = append(list, a)
		}
		slices.Sort(list)
		join = "--join " + strings.Join(list, ",")
	}
	return "it left the cluster or was removed. To bring it back, start it with " + join +
		" (a node an operator removed needs a new certificate first: delete its old certificate and key files, then engine tls init); to start it afresh, wipe its data directory; else stop it"
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
