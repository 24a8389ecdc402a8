package peer_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// logTo is a logger at DEBUG writing into b.
func logTo(b *testutil.LockedBuffer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: b, Level: hclog.Debug})
}

// open is the proof of a port that takes every connection (--auth none).
var open = peer.Proof{Open: true}

// TestClusterPortRefusesBrowsers: a web page can make a browser send requests to a cluster port on
// loopback that takes every connection (--auth none). The attack of the red team's finding — a
// no-cors text/plain POST writing the model — and every header that gives a browser away are
// refused with 403, logged with the remote address, before anything reaches the node; the node's
// own client (joins, forwarded writes, executes, status, debug streams) is still served.
func TestClusterPortRefusesBrowsers(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	n := newNode(t, func(s *setup) { s.proof = open; s.peer.Logger = logTo(&logs) })
	apply := n.url + httpwire.NodeBase + "/cluster/apply"
	model := `{"v":1,"op":"apply","data":{"drivers":[{"id":"drv-pwn","module_name":"Pwn","role":"service","binary":"testdriver"}]}}`
	for _, tt := range []struct {
		name, method, url, body string
		hdr                     []string
	}{
		{"the red team's no-cors POST", "POST", apply, model, []string{"Origin", "https://evil.example",
			"Content-Type", "text/plain;charset=UTF-8", "Sec-Fetch-Mode", "no-cors", "Sec-Fetch-Site", "cross-site"}},
		{"Origin alone, JSON body", "POST", apply, model, []string{"Origin", "http://127.0.0.1:1"}},
		{"Origin null", "POST", apply, model, []string{"Origin", "null"}},
		{"Sec-Fetch-Site alone", "POST", apply, model, []string{"Sec-Fetch-Site", "same-origin"}},
		{"text/plain alone", "POST", apply, model, []string{"Content-Type", "text/plain"}},
		{"a form", "POST", apply, model, []string{"Content-Type", "application/x-www-form-urlencoded"}},
		{"no Content-Type", "POST", apply, model, []string{"Content-Type", ""}},
		{"leave as a form", "POST", n.url + httpwire.NodeBase + "/cluster/leave", "", []string{"Content-Type", "multipart/form-data; boundary=x"}},
		{"a GET of the status with Sec-Fetch-Mode", "GET", n.url + httpwire.NodeBase + "/status", "", []string{"Sec-Fetch-Mode", "no-cors"}},
		{"DNS rebinding: a name as Host", "POST", apply, model, []string{"Host", "evil.example:" + port(t, n.addr)}},
		{"DNS rebinding, a GET", "GET", n.url + httpwire.NodeBase + "/status", "", []string{"Host", "rebind.evil.example"}},
	} {
		code, body := do(t, open, tt.method, tt.url, tt.body, tt.hdr...)
		if code != http.StatusForbidden || !strings.Contains(body, "access_denied") || !strings.Contains(body, "browser") {
			t.Errorf("%s: %d %s", tt.name, code, body)
		}
	}
	// A browser's WebSocket always carries an Origin.
	dialer := websocket.Dialer{}
	_, resp, err := dialer.Dial("ws://"+n.addr+httpwire.NodeBase+"/command/mod-1/debugger", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a debugger WebSocket with an Origin: %v %v", resp, err)
	}
	if c := n.members.calls(); c != 0 || n.leaves.Load() != 0 || len(n.local.attached()) != 0 {
		t.Fatalf("a browser's request reached the node: %d membership calls, %d leaves, %d debug attaches", c, n.leaves.Load(), len(n.local.attached()))
	}
	if l := logs.String(); !strings.Contains(l, "node route refused: a request a browser could have sent") || !strings.Contains(l, "remote=127.0.0.1:") {
		t.Fatalf("the refusal is not logged with the remote address:\n%s", l)
	}

	// The node's own client, on the same port.
	c := newClient(t, open)
	if err := c.Forward(t.Context(), n.addr, []byte(model)); err != nil {
		t.Fatalf("forward: %v", err)
	}
	if err := c.Join(t.Context(), n.addr, member("n2", "127.0.0.1:7002", "127.0.0.1:8082")); err != nil {
		t.Fatalf("join: %v", err)
	}
	if _, err := c.NodeStatus(t.Context(), n.addr); err != nil {
		t.Fatalf("status: %v", err)
	}
	res, err := c.Exec(t.Context(), n.addr, call.Request{Target: call.Target{ModuleID: "mod-1"}, Function: "power",
		Caller: auth.Caller{UserID: "u1", Clearance: auth.ClearanceUser}})
	if err != nil || res.Code != http.StatusOK {
		t.Fatalf("exec: %+v %v", res, err)
	}
	n.local.onDebug(nil, "info hello")
	var got lines
	cancel, err := c.Debug(t.Context(), n.addr, "mod-1", got.fn)
	if err != nil {
		t.Fatalf("debug: %v", err)
	}
	testutil.Eventually(t, within, "the debug line", func() bool { return len(got.all()) == 1 })
	cancel()
	// The forwarded execute over HTTP, as a node of an older version sends it, and localhost.
	code, body := do(t, open, "POST", "http://localhost:"+port(t, n.addr)+httpwire.NodeBase+"/command/mod-1/execute",
		`{"__exec__":"power","power":[]}`)
	if code != http.StatusOK {
		t.Fatalf("execute over HTTP at localhost: %d %s", code, body)
	}
	if s := n.members.seen(); len(s.applies) != 1 || len(s.joins) != 1 {
		t.Fatalf("the node's own calls: %d applies, %d joins", len(s.applies), len(s.joins))
	}
}

// TestClusterSecretPortTakesNamedHosts: only a port that takes every connection wants an IP
// address as Host; with the cluster secret no page can open a connection, so nodes may dial names.
func TestClusterSecretPortTakesNamedHosts(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	code, body := do(t, proved, "GET", n.url+httpwire.NodeBase+"/status", "", "Host", "node-1.cluster.internal:7000")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, body)
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
