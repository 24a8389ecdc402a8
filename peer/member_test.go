package peer_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// TestClusterPortServesMembersOnly: a certificate the cluster's CA signed for a node that is not a
// member (issued by `engine tls init` for a node that never joined, as n3 here) is refused by every
// node route (403), by the exec protocol at its greeting and by Raft, and the refusals name it in
// the log; it may only join, as itself. A member's certificate is served.
func TestClusterPortServesMembersOnly(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "n2", "n3")
	var logs testutil.LockedBuffer
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")}; s.peer.Logger = logTo(&logs) })
	raft := raftConns(t, n.port)
	outsider := peer.Proof{TLS: cs.of(t, "n3")}
	c := newClient(t, outsider)
	exec := call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"}

	_, err := c.Exec(t.Context(), n.addr, exec)
	wantNotMember(t, "exec", err)
	wantNotMember(t, "forwarded write", c.Forward(t.Context(), n.addr, []byte(`{"v":1,"op":"node_remove","data":{"id":"n2"}}`)))
	_, err = c.NodeStatus(t.Context(), n.addr)
	wantNotMember(t, "status", err)
	_, err = c.Debug(t.Context(), n.addr, "mod-1", func(string, string) {})
	wantNotMember(t, "debug", err)
	for _, route := range []struct{ path, body string }{
		{"/command/mod-1/execute", `{"__exec__":"power","power":[]}`},
		{"/cluster/leave", `{"id":"n2"}`},
		{"/cluster/leave", ``},
	} {
		if code, body := do(t, outsider, http.MethodPost, n.url+httpwire.NodeBase+route.path, route.body); code != http.StatusForbidden ||
			!strings.Contains(body, "not a member") {
			t.Errorf("POST %s %s: %d %s", route.path, route.body, code, body)
		}
	}
	if raftThrough(t, raft, outsider, n.addr) {
		t.Fatal("Raft took a connection of a node that is not a member")
	}
	if len(n.local.execCalls()) != 0 || n.members.calls() != 0 || n.leaves.Load() != 0 || len(n.local.attached()) != 0 {
		t.Fatal("a non-member's request reached the node")
	}
	testutil.Eventually(t, within, "the refusals named in the log", func() bool {
		l := logs.String()
		return strings.Contains(l, `node route refused`) && strings.Contains(l, `peer=n3`) &&
			strings.Contains(l, `cluster connection refused`) && strings.Contains(l, `the certificate names node \"n3\"`)
	})

	// It may join, as itself: a join's probe (a GET of the route, 405) and the join.
	if code, body := do(t, outsider, http.MethodGet, n.url+httpwire.NodeBase+"/cluster/join", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("the join probe: %d %s", code, body)
	}
	if err := c.Join(t.Context(), n.addr, member("n3", "127.0.0.1:7003", "127.0.0.1:8083")); err != nil {
		t.Fatalf("join as itself: %v", err)
	}

	// A member is served on all three.
	member := peer.Proof{TLS: cs.of(t, "n2")}
	if res, err := newClient(t, member).Exec(t.Context(), n.addr, exec); err != nil || res.Code != http.StatusOK {
		t.Fatalf("a member's exec: %+v %v", res, err)
	}
	if !raftThrough(t, raft, member, n.addr) {
		t.Fatal("Raft refused a member")
	}
}

// TestRemovedNodeLosesTheClusterPort: once a node is no longer a member (it left, or was removed)
// its certificate is refused from the next request on, and the Raft and exec connections it had
// open are closed within recheckEvery (1 s) of their next data.
func TestRemovedNodeLosesTheClusterPort(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "n2")
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	raft := raftConns(t, n.port)
	n2 := peer.Proof{TLS: cs.of(t, "n2")}
	c := newClient(t, n2)
	exec := call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power"}
	if _, err := c.Exec(t.Context(), n.addr, exec); err != nil {
		t.Fatal(err)
	}
	dialled, err := n2.Dial(t.Context(), n.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer dialled.Close()
	if _, err := dialled.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	var accepted net.Conn
	select {
	case accepted = <-raft:
		defer accepted.Close()
	case <-time.After(within):
		t.Fatal("Raft did not take a member's connection")
	}

	n.members.setTable("n1") // n2 removed
	_, err = c.NodeStatus(t.Context(), n.addr)
	wantNotMember(t, "status after the removal", err)
	testutil.Eventually(t, within, "the exec link closed and the next refused", func() bool {
		_, err := c.Exec(t.Context(), n.addr, exec)
		return errors.Is(err, errkind.Forbidden)
	})
	testutil.Eventually(t, within, "the Raft connection closed", func() bool {
		_, _ = dialled.Write([]byte{1})
		_ = accepted.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err := accepted.Read(make([]byte, 16))
		var timeout net.Error
		return err != nil && !(errors.As(err, &timeout) && timeout.Timeout())
	})
	if raftThrough(t, raft, n2, n.addr) {
		t.Fatal("Raft took a new connection of the removed node")
	}
}

// TestJoiningNodeTakesRaftFromTheCA: a node whose own membership view does not list itself yet (it
// is joining: the leader's first AppendEntries come before the node table that names the leader)
// takes Raft from any certificate of the CA, and only Raft; once it lists itself, members only.
func TestJoiningNodeTakesRaftFromTheCA(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "leader")
	n := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	n.members.setTable()
	raft := raftConns(t, n.port)
	leader := peer.Proof{TLS: cs.of(t, "leader")}
	if !raftThrough(t, raft, leader, n.addr) {
		t.Fatal("a joining node refused the leader's Raft")
	}
	_, err := newClient(t, leader).NodeStatus(t.Context(), n.addr)
	wantNotMember(t, "status", err)
	n.members.setTable("leader", "n1")
	if !raftThrough(t, raft, leader, n.addr) {
		t.Fatal("a member's Raft was refused")
	}
	n.members.setTable("n1", "n2")
	if raftThrough(t, raft, leader, n.addr) {
		t.Fatal("once the node lists itself, a non-member's Raft was taken")
	}
}

// TestStaleNodeAsksItsMembers: a node that was down while another joined does not list the
// newcomer, which may lead when it returns. It asks the members it lists, and takes the newcomer's
// Raft when one of them lists it; a certificate no member lists is still refused. Nothing else is
// taken on a member's word: the newcomer's HTTP calls wait until this node has caught up.
func TestStaleNodeAsksItsMembers(t *testing.T) {
	t.Parallel()
	cs := newCerts(t, "n1", "n2", "n3", "n4")
	current := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n2")} })
	current.members.setTable("n1", "n2", "n3")
	stale := newNode(t, func(s *setup) { s.proof = peer.Proof{TLS: cs.of(t, "n1")} })
	stale.members.setTable("n1", "n2")
	stale.members.setAddr("n2", current.addr)
	stale.port.Admit(stale.members, newClient(t, peer.Proof{TLS: cs.of(t, "n1")}))
	raft := raftConns(t, stale.port)
	newcomer := peer.Proof{TLS: cs.of(t, "n3")}
	if !raftThrough(t, raft, newcomer, stale.addr) {
		t.Fatal("the stale node refused the newcomer its members list")
	}
	if raftThrough(t, raft, peer.Proof{TLS: cs.of(t, "n4")}, stale.addr) {
		t.Fatal("the stale node took a certificate no member lists")
	}
	_, err := newClient(t, newcomer).NodeStatus(t.Context(), stale.addr)
	wantNotMember(t, "the newcomer's status call", err)
	// The question itself is a node route: members only.
	if _, err := newClient(t, peer.Proof{TLS: cs.of(t, "n4")}).IsMember(t.Context(), current.addr, "n3", ""); !errors.Is(err, errkind.Forbidden) {
		t.Fatalf("a non-member asked about membership: %v", err)
	}
}

func wantNotMember(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, errkind.Forbidden) || !strings.Contains(fmtErr(err), "not a member") {
		t.Fatalf("%s: want 403 not a member, got %v", what, err)
	}
	wantKind(t, err, errkind.Forbidden, http.StatusForbidden)
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// raftConns hands on the connections port's Raft listener accepts.
func raftConns(t *testing.T, port *peer.Port) <-chan net.Conn {
	t.Helper()
	ch := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := port.Raft().Accept()
			if err != nil {
				return
			}
			ch <- c
		}
	}()
	return ch
}

// raftThrough reports whether a connection proved with proof that starts with a Raft RPC type
// reaches the Raft listener (raftConns) of the port at addr, or is refused.
func raftThrough(t *testing.T, raft <-chan net.Conn, proof peer.Proof, addr string) bool {
	t.Helper()
	c, err := proof.Dial(t.Context(), addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{0, 7, 9}); err != nil {
		return false
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = c.SetReadDeadline(time.Now().Add(within))
		_, _ = c.Read(make([]byte, 1)) // a refused connection is closed: EOF
	}()
	select {
	case got := <-raft:
		_ = got.Close()
		return true
	case <-closed:
		return false
	}
}
