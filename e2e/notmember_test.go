package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// TestClusterNotAMemberSaysSo: the rolling-upgrade drill restarted a node without --join after it
// had left the cluster (SIGTERM), and the node said "catching up" — on GET /cluster, to executes —
// for ever, so the operator waited. A node that is not a member now says so: one ERROR line at
// start with what to do (--join naming the members' cluster ports, or wipe the data dir), GET
// /cluster and /ready 503 in state "not a member", executes 503 saying so, `engine status`
// showing it. The same for a node removed while it was down, which learns it from the members.
// A member killed and restarted without --join still catches up, and the node that left joins
// again with --join.
func TestClusterNotAMemberSaysSo(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	engine := testutil.BuildBinary(t, "./cmd/engine")
	c := enginetest.StartCluster(t, config(redis.URL), "nam", 3, clusterModel(drv), clusterModules)
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	// No member, new with --join (n2, n3) or bootstrapped (n1), ever took itself for none.
	noFalseAlarm := func(what string, nodes ...*enginetest.Node) {
		t.Helper()
		for _, n := range nodes {
			if strings.Contains(n.Logs().String(), "not a member") {
				t.Fatalf("%s: %s says it is not a member", what, n.ID)
			}
		}
	}
	noFalseAlarm("the cluster formed", n1, n2, n3)

	// notMember checks every answer of n3, which is not a member because of why.
	notMember := func(why string) {
		t.Helper()
		head := "this node is not a member of the cluster (" + why
		n3.WaitLog(30*time.Second, "[ERROR] engine.membership: "+head)
		log := n3.Logs().String()
		if !strings.Contains(log, "--join ") || !strings.Contains(log, n1.Raft) || !strings.Contains(log, "wipe its data directory") {
			t.Fatalf("the ERROR line says what to do? %s", log[strings.Index(log, head):])
		}
		var body struct{ Error, Message, State string }
		n3.Eventually(30*time.Second, "GET /cluster in state not a member", func() bool {
			r, err := n3.Try("GET", "/api/engine/v2/cluster", "")
			return err == nil && r.Status == http.StatusServiceUnavailable && json.Unmarshal([]byte(r.Body), &body) == nil &&
				body.State == "not a member"
		})
		if body.Error != "unavailable" || !strings.HasPrefix(body.Message, head) || !strings.Contains(body.Message, "--join") {
			t.Fatalf("GET /cluster: %+v", body)
		}
		if r := n3.Do("GET", "/api/core/v1/ready", ""); r.Status != 503 || r.Body != `{"ready":false,"state":"not a member"}` {
			t.Fatalf("GET /ready: %+v", r)
		}
		r := n3.Do("POST", "/api/engine/v2/systems/sys-1/Test_1/echo", `["hi"]`)
		if r.Status != 503 || !strings.Contains(r.Body, head) || strings.Contains(r.Body, "catching up") || r.Header.Get("Retry-After") != "" {
			t.Fatalf("an execute: %+v", r)
		}
		out, err := exec.Command(engine, "status", "--server", n3.Base).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "this node is not a member of the cluster") {
			t.Fatalf("engine status: %v\n%s", err, out)
		}
		if got := strings.Count(n3.Logs().String(), "[ERROR] engine.membership: "); got != 1 {
			t.Fatalf("the ERROR line logged %d times, want once", got)
		}
		// With no leader it is cut off too, but it ran nothing: that is not news to warn of.
		n3.WaitLog(30*time.Second, "[DEBUG] engine.core: cut off from the leader")
		if strings.Contains(n3.Logs().String(), "[WARN]  engine.core: cut off from the leader") {
			t.Error("the node that is not a member warns that it is cut off and stopped nothing")
		}
	}

	// n3 leaves (SIGTERM) and is restarted without --join.
	n3.Stop()
	c.WaitHealthy(2)
	n3.Start()
	notMember("its Raft configuration")
	if strings.Contains(n3.Logs().String(), "catching up") {
		t.Error("the node that left says it is catching up")
	}
	// With --join it is a member again.
	n3.Stop()
	n3.Start("--join", n1.Raft)
	c.WaitHealthy(3)
	noFalseAlarm("rejoined", n3)

	// A member killed and restarted without --join catches up as always.
	n2.Kill()
	n2.Start()
	c.WaitHealthy(3)
	noFalseAlarm("a member restarted", n2)

	// n3 is removed by an operator while it is down, then restarted: its Raft state still lists
	// it, and the members refuse its certificate.
	n3.Kill()
	m, err := clustertls.Load(clustertls.CAFile(c.TLSDir()), clustertls.CertFile(c.TLSDir(), n1.ID), clustertls.KeyFile(c.TLSDir(), n1.ID))
	if err != nil {
		t.Fatal(err)
	}
	operator := peer.NewClient(peer.Proof{TLS: m})
	defer operator.Close()
	if err := operator.Remove(t.Context(), n2.Raft, n3.ID); err != nil {
		t.Fatalf("removing %s: %v", n3.ID, err)
	}
	c.WaitHealthy(2)
	n3.Start()
	notMember("node ")
	if !strings.Contains(n3.Logs().String(), "revoked") {
		t.Error("the removed node does not say its certificate was revoked")
	}
}

// TestSingleNodeRestartsAMember: a single-node cluster stopped with SIGTERM (the last voter cannot
// leave) or killed, and started again without --join, is a member and ready, as before.
func TestSingleNodeRestartsAMember(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	n := enginetest.StartEngine(t, config(redis.URL), "one", clusterModel(drv))
	n.Restart()
	n.Kill()
	n.Start()
	n.WaitReady()
	if r := n.Do("POST", "/api/engine/v2/systems/sys-1/Test_1/echo", `["hi"]`); r.Status != 200 {
		t.Fatalf("an execute after the restarts: %+v", r)
	}
	if strings.Contains(n.Logs().String(), "not a member") {
		t.Fatal("a single node restarted says it is not a member")
	}
}
