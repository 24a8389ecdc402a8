package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
)

// tlsFlags are the cluster TLS flags of node id with the certificates in dir (engine tls init).
func tlsFlags(t *testing.T, dir, id string) []string {
	t.Helper()
	if _, err := clustertls.Init(dir, []string{id}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return []string{"--tls-ca", clustertls.CAFile(dir), "--tls-cert", clustertls.CertFile(dir, id), "--tls-key", clustertls.KeyFile(dir, id)}
}

// TestJoinRefusedBeforeDataDir: a node whose --join address answers and turns it away — a client
// API given for the cluster port, another cluster secret, a certificate of another CA — exits 1
// saying why, even with --bootstrap, before it creates anything in its data directory; it never
// bootstraps a cluster of its own. The members are left as they were.
func TestJoinRefusedBeforeDataDir(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)

	// A member whose cluster port wants the greeting of a cluster secret.
	secretFile := filepath.Join(t.TempDir(), "cluster-secret")
	if err := os.WriteFile(secretFile, []byte("the-secret-of-the-join-test-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := enginetest.NewNode(t, config(redis.URL, "--cluster-secret-file", secretFile), "plain-1")
	plain.Start("--bootstrap")
	// A member of a cluster with TLS.
	c := enginetest.NewCluster(t, config(redis.URL), "tls", 1)
	secure := c.Nodes[0]
	secure.Start("--bootstrap")
	plain.WaitReady()
	secure.WaitReady()
	sameCA := tlsFlags(t, c.TLSDir(), "newcomer")
	otherCA := tlsFlags(t, filepath.Join(t.TempDir(), "other-ca"), "newcomer")

	for _, tt := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"client API for the cluster port, with a cluster secret",
			[]string{"--auth", "none", "--cluster-secret", "the-secret-of-the-join-test-0123456789", "--join", "http://" + plain.HTTP},
			[]string{"--join " + plain.HTTP + " is a client API address (it answered HTTP 400); --join takes a member's cluster port, its --raft-addr"}},
		{"client API for the cluster port, open",
			[]string{"--auth", "none", "--bootstrap", "--join", plain.HTTP},
			[]string{"--join " + plain.HTTP + " is a client API address (it answered HTTP 404)", "its --raft-addr"}},
		{"client API for the cluster port, with TLS",
			append([]string{"--auth", "none", "--bootstrap", "--join", "https://" + secure.HTTP + "/"}, sameCA...),
			[]string{"--join " + secure.HTTP + " is a client API address (it answered plain HTTP to TLS)", "its --raft-addr"}},
		{"another cluster secret",
			[]string{"--auth", "none", "--bootstrap", "--cluster-secret", "not-the-secret-of-the-join-test-01234", "--join", plain.Raft},
			[]string{"--join " + plain.Raft + " closed the connection at once", "another --cluster-secret"}},
		{"a certificate of another CA",
			append([]string{"--auth", "none", "--bootstrap", "--join", secure.Raft}, otherCA...),
			[]string{"--join " + secure.Raft + " is not a node of this cluster", "not a certificate of this cluster"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			code, out := runEngine(t, refusedWithin, serveArgs(t, "newcomer", dir, redis.URL, tt.args...)...)
			if code != 1 {
				t.Fatalf("exit status %d, want 1:\n%s", code, tail([]byte(out)))
			}
			for _, want := range tt.wants {
				if !strings.Contains(out, want) {
					t.Errorf("the output does not say %q:\n%s", want, tail([]byte(out)))
				}
			}
			for _, never := range []string{"bootstrapped a new cluster", "entering leader state"} {
				if strings.Contains(out, never) {
					t.Errorf("the refused node logged %q:\n%s", never, tail([]byte(out)))
				}
			}
			mustBeAbsent(t, dir, out)
		})
	}
	t.Cleanup(func() {
		// After every attempt, each member is still alone, and still leads.
		for _, n := range []*enginetest.Node{plain, secure} {
			if info, err := n.Info(); err != nil || len(info.Nodes) != 1 || info.Leader != n.ID {
				t.Errorf("%s after the refused joins: %+v, %v", n.ID, info, err)
			}
		}
	})
}

// TestBootstrapWithJoin: --bootstrap and --join together, as a deployment gives them to its
// first node for good.
//
//   - The first node of a new cluster, whose --join names a node not started yet, bootstraps the
//     cluster; the next node, configured the same way, joins it instead of bootstrapping. (With
//     the second node killed, the first has no majority: engine status says "leader none".)
//   - A member that lost its data directory restarts empty with both flags and joins the
//     cluster it was in: it bootstraps nothing, and the cluster has three members and one leader.
//
// A --join URL whose scheme disagrees with the node's cluster TLS is warned about (one line) and
// read as host:port.
func TestBootstrapWithJoin(t *testing.T) {
	t.Parallel()
	// Each case has a Redis of its own: a Redis serves one cluster (it records it, and a node
	// without Raft state will not bootstrap another beside it).
	t.Run("first node", func(t *testing.T) {
		t.Parallel()
		redis := testutil.StartRedis(t)
		first := enginetest.NewNode(t, config(redis.URL), "first")
		second := enginetest.NewNode(t, config(redis.URL), "second")
		first.Start("--bootstrap", "--join", second.Raft)
		first.WaitReady()
		first.WaitLog(5*time.Second, "none of the --join addresses answers: bootstrapping a new cluster")
		first.WaitLog(5*time.Second, "bootstrapped a new cluster")

		// An https URL for the cluster port of a node without TLS: warned about, read as host:port.
		second.Start("--bootstrap", "--join", "https://"+first.Raft+"/")
		second.WaitLog(enginetest.ReadyWithin, "joined the cluster")
		second.WaitLog(5*time.Second, "--join https://"+first.Raft+"/ says https, but this node has no cluster TLS")
		second.WaitReady()
		if logs := second.Logs().String(); strings.Contains(logs, "bootstrapped a new cluster") {
			t.Fatalf("the second node bootstrapped a cluster of its own:\n%s", second.Logs().Tail(3000))
		}
		for _, n := range []*enginetest.Node{first, second} {
			n.Eventually(30*time.Second, n.ID+" sees two nodes up led by first", func() bool {
				info, err := n.Info()
				return err == nil && info.Leader == first.ID && len(info.Nodes) == 2 && info.Up() == 2
			})
		}
		// Having bootstrapped, the first node asked nobody to add it.
		if logs := first.Logs().String(); strings.Contains(logs, "join failed") || strings.Contains(logs, "joined the cluster") {
			t.Fatalf("the first node tried to join after bootstrapping:\n%s", first.Logs().Tail(3000))
		}

		// engine status names the leader; once the second node is gone the first has no majority
		// (two voters), and status says there is no leader rather than printing an empty name.
		if code, out := runEngine(t, refusedWithin, "status", "--server", first.Base); code != 0 || !strings.Contains(out, "cluster: leader first, ") {
			t.Fatalf("engine status with a leader: exit %d:\n%s", code, out)
		}
		second.Kill()
		first.Eventually(30*time.Second, "first to see no leader", func() bool {
			info, err := first.Info()
			return err == nil && info.Leader == ""
		})
		// The dead node is still listed up (no leader is left to mark it down): status asks it, says
		// it is unreachable, and exits 1 — a degraded cluster — after printing the tables.
		code, out := runEngine(t, refusedWithin, "status", "--server", first.Base)
		if code != 1 || !strings.Contains(out, "cluster: leader none (no majority") || strings.Contains(out, "leader ,") ||
			!regexp.MustCompile(`(?m)^second\s+\S+\s+unreachable`).MatchString(out) || !strings.Contains(out, "cluster degraded: ") {
			t.Fatalf("engine status without a leader: exit %d:\n%s", code, out)
		}
		t.Logf("engine status without a leader:\n%s", out)
	})

	t.Run("lost data directory", func(t *testing.T) {
		t.Parallel()
		redis := testutil.StartRedis(t)
		drv := testutil.BuildBinary(t, "./internal/testdriver")
		c := enginetest.StartCluster(t, config(redis.URL), "lost", 3, clusterModel(drv), clusterModules)
		n3 := c.Nodes[2]
		drivers := n3.Kill()
		testutil.WaitGone(t, drivers...)
		if err := os.RemoveAll(n3.DataDir); err != nil {
			t.Fatal(err)
		}
		// An http URL for a cluster port with TLS: warned about, dialled with TLS.
		n3.Start("--bootstrap", "--join", "http://"+c.Nodes[0].Raft)
		n3.WaitLog(enginetest.ReadyWithin, "joined the cluster")
		n3.WaitLog(5*time.Second, "--join http://"+c.Nodes[0].Raft+" says http, but this node's cluster port runs TLS")
		c.WaitHealthy(3)
		if logs := n3.Logs().String(); strings.Contains(logs, "bootstrapped a new cluster") || !strings.Contains(logs, "a --join address answers") {
			t.Fatalf("the node that lost its data bootstrapped, or did not say why it joined:\n%s", n3.Logs().Tail(3000))
		}
		leader := c.Leader().ID
		for _, n := range c.Nodes {
			info, err := n.Info()
			if err != nil || len(info.Nodes) != 3 || info.Leader != leader {
				t.Fatalf("%s: %+v, %v; want 3 members led by %s", n.ID, info, err, leader)
			}
		}
	})
}

// TestNoSecondClusterFromALostDisk: a node of a cluster that lost its data directory, started with
// --bootstrap --join while the other nodes are down, finds no one to join; Redis still records the
// cluster, so it refuses to bootstrap a second one (which would never agree with the first once
// its nodes return) and says how to go on. The record holds even after Redis lost it (FLUSHALL)
// or another writer replaced it while the cluster ran: the leader writes it again within seconds.
func TestNoSecondClusterFromALostDisk(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "lost", 3, clusterModel(drv), clusterModules)
	rc := rds.Client(t)
	recorded := func() bool {
		var rec struct{ Members []string }
		b, err := rc.Get(t.Context(), "engine/cluster").Bytes()
		return err == nil && json.Unmarshal(b, &rec) == nil && slices.Equal(rec.Members, []string{"lost-1", "lost-2", "lost-3"})
	}
	testutil.Eventually(t, 10*time.Second, "the cluster recorded in Redis", recorded)

	// A second cluster's leader (a lost-1 that bootstrapped alone, as in the report) overwrote it.
	theirs := `{"members":["lost-1"],"leader":"lost-1","at":"2099-01-01T00:00:00Z"}`
	if err := rc.Set(t.Context(), "engine/cluster", theirs, 0).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the record rewritten over another writer's", recorded)
	c.Leader().WaitLog(10*time.Second, "another node wrote the cluster's record in redis after this leader did")
	// Once is what a deposed leader does on resuming (INFO); again is a second cluster (WARN).
	if strings.Contains(c.Leader().Logs().String(), "two clusters") {
		t.Fatal("one record written after the leader's was called two clusters (a deposed leader's resume does it once)")
	}
	if err := rc.Set(t.Context(), "engine/cluster", theirs, 0).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the record rewritten over the other writer's again", recorded)
	c.Leader().WaitLog(10*time.Second, "two clusters use this redis")

	// Redis lost everything while the cluster runs.
	if err := rc.FlushAll(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	testutil.Eventually(t, 10*time.Second, "the cluster recorded again after FLUSHALL", recorded)
	t.Logf("the record was back %s after FLUSHALL", time.Since(flushed).Round(time.Millisecond))

	first, second := c.Nodes[0], c.Nodes[1]
	for _, n := range c.Nodes {
		n.Kill() // the machines go down (a SIGTERM would leave the cluster, which the record follows)
	}
	wiped := filepath.Join(t.TempDir(), "data")
	code, out := runEngine(t, 30*time.Second, serveArgs(t, first.ID, wiped, rds.URL, "--auth", "none", "--bootstrap", "--join", second.Raft)...)
	if code != 1 || !strings.Contains(out, "Redis records a cluster of lost-1, lost-2, lost-3") || !strings.Contains(out, "delete the Redis key engine/cluster") {
		t.Fatalf("a wiped node started alone with --bootstrap --join: exit %d\n%s", code, tail([]byte(out)))
	}
	if strings.Contains(out, "bootstrapped a new cluster") {
		t.Fatal("it bootstrapped a cluster of its own")
	}
}

// TestMemberRestartsWhileJoinTargetIsDown: with node-1 (every other node's --join) down, a survivor
// restarted with its usual flags is a member already: it serves at once, and the two survivors
// keep the majority, rather than waiting a minute for node-1 and then exiting.
func TestMemberRestartsWhileJoinTargetIsDown(t *testing.T) {
	t.Parallel()
	rds := testutil.StartRedis(t)
	drv := testutil.BuildBinary(t, "./internal/testdriver")
	c := enginetest.StartCluster(t, config(rds.URL), "mr", 3, clusterModel(drv), clusterModules)
	first, second := c.Nodes[0], c.Nodes[1]
	first.Kill()
	c.WaitHealthy(2)
	second.Kill()
	second.Start("--join", first.Raft)
	second.WaitReady()
	c.WaitHealthy(2)
}
