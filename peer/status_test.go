package peer_test

import (
	"encoding/json"
	"net/http"
	"testing"

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
