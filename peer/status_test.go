package peer_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/peer"
)

// TestNodeStatus: a node asks another for its status over the cluster port; what fails on the
// way arrives as the kind it is (the node's own error, a port that refuses the caller, no node).
func TestNodeStatus(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	raw, err := peer.NewClient(proved).NodeStatus(t.Context(), n.addr)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Node string }
	if err := json.Unmarshal(raw, &st); err != nil || st.Node != "fake" {
		t.Fatalf("status %s: %v", raw, err)
	}

	failing := newNode(t)
	failing.local.mu.Lock()
	failing.local.statusErr = errkind.Wrap(errkind.Unavailable, nil, "catching up")
	failing.local.mu.Unlock()
	_, err = peer.NewClient(proved).NodeStatus(t.Context(), failing.addr)
	wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)

	// A client that cannot prove it is a node reads nothing.
	_, err = peer.NewClient(peer.Proof{Secret: "another cluster's secret"}).NodeStatus(t.Context(), n.addr)
	wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)

	gone := newNode(t)
	gone.stop(t.Context(), t)
	_, err = peer.NewClient(proved).NodeStatus(t.Context(), gone.addr)
	wantKind(t, err, errkind.Unavailable, http.StatusServiceUnavailable)
}

// TestNodeStatusActsForTheCaller: a node asking another for its status on a caller's behalf (the
// cluster status) sends that caller's clearance, so the other node leaves out what the caller may
// not read (a protected module's failure, docs/protocol.md §8.3) as the asking node does; a
// context naming no caller is asked for as a user (auth.CallerFrom fails closed).
func TestNodeStatusActsForTheCaller(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	c := newClient(t, proved)
	for _, tt := range []struct {
		ctx  context.Context
		want string
	}{
		{t.Context(), "user"},
		{auth.WithCaller(t.Context(), auth.Caller{UserID: "u1", Clearance: auth.ClearanceUser}), "user"},
		{auth.WithCaller(t.Context(), auth.Caller{UserID: "s1", Clearance: auth.ClearanceSupport}), "support"},
		{auth.WithCaller(t.Context(), auth.Caller{UserID: "a1", Clearance: auth.ClearanceAdmin}), "admin"},
	} {
		raw, err := c.NodeStatus(tt.ctx, n.addr)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct{ As string }
		if err := json.Unmarshal(raw, &doc); err != nil || doc.As != tt.want {
			t.Errorf("the status was asked for as %q (%v); want %q", doc.As, err, tt.want)
		}
	}
}
