package core

import (
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// TestNotAMemberAnswersSo: a node that is not a member of the cluster (Config.Membership) is not
// ready, answers GET /cluster with why, and fails every execute with it — one it would forward
// (its stale ring gives the module to another node) and one it would run — rather than catching up
// or forwarding to nodes that refuse it. A member again, it runs them.
func TestNotAMemberAnswersSo(t *testing.T) {
	t.Parallel()
	peers := &fakePeers{}
	tc, remote := twoNodes(t, peers)
	notMember := errkind.WithState(errkind.New(errkind.Unavailable, "this node is not a member of the cluster (why): what to do"), "not a member")
	var outside atomic.Bool
	tc.cfg.Membership = func() error {
		if outside.Load() {
			return notMember
		}
		return nil
	}
	if !tc.Ready() {
		t.Fatal("not ready after its pass")
	}
	outside.Store(true)

	if tc.Ready() {
		t.Error("a node that is not a member says it is ready")
	}
	if _, err := tc.Cluster(t.Context()); err != notMember {
		t.Errorf("GET /cluster: %v", err)
	}
	local := ""
	for i := range 20 {
		if id := fmt.Sprintf("mod-%d", i); tc.owns(tc.view.Load(), id) {
			local = id
		}
	}
	caller := user(auth.ClearanceSupport)
	for _, mod := range []string{remote, local} {
		_, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: mod}, Function: "reboot", Caller: caller, Timeout: time.Second})
		if p := errkind.Classify(err); !errors.Is(err, notMember) || p.Status != http.StatusServiceUnavailable || p.State != "not a member" {
			t.Errorf("execute of %s: %v", mod, err)
		}
	}
	if len(peers.reqs) != 0 || len(tc.sup.executed()) != 0 {
		t.Fatalf("a node that is not a member forwarded %d calls and ran %v", len(peers.reqs), tc.sup.executed())
	}

	outside.Store(false)
	if res, err := tc.Execute(t.Context(), call.Request{Target: call.Target{ModuleID: remote}, Function: "reboot", Caller: caller, Timeout: time.Second}); err != nil {
		t.Fatalf("a member again: %+v %v", res, err)
	}
}
