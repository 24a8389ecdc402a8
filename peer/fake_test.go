package peer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/raftfsm"
)

// The credentials of every test node.
const (
	secret   = "s3cret-of-the-test-cluster"
	userKey  = "user-key-0123456789"
	adminKey = "admin-key-0123456789"
	nodeID   = "n1"
)

// fakeLocal is this node's engine as peer.Server sees it: it records what reaches it.
type fakeLocal struct {
	mu     sync.Mutex
	execs  []call.Request
	execFn func(ctx context.Context, req call.Request) (call.Result, error)

	debugErr   error
	debugEmit  []string // lines DebugHere sends ("level msg") before it returns
	debugs     []debugAttach
	debugFn    func(level, msg string) // the last attached stream
	statusErr  error                   // NodeStatus fails with it when set
	debugEnded atomic.Int32            // cancels run
}

type debugAttach struct {
	moduleID  string
	caller    auth.Caller
	requestID string
}

func (l *fakeLocal) ExecuteHere(ctx context.Context, req call.Request) (call.Result, error) {
	l.mu.Lock()
	l.execs = append(l.execs, req)
	fn := l.execFn
	l.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	return call.Result{ModuleID: req.Target.ModuleID, Value: json.RawMessage(`{"ok":true}`), Code: http.StatusOK}, nil
}

// NodeStatus answers with the clearance of the caller the request acts for ("as"), which the
// core's status decides what to show by.
func (l *fakeLocal) NodeStatus(ctx context.Context) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statusErr != nil {
		return nil, l.statusErr
	}
	return map[string]any{"node": "fake", "drivers": []any{}, "as": auth.CallerFrom(ctx).Clearance.String()}, nil
}

func (l *fakeLocal) DebugHere(ctx context.Context, moduleID string, fn func(level, msg string)) (func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.debugs = append(l.debugs, debugAttach{moduleID, auth.CallerFrom(ctx), httpwire.RequestID(ctx)})
	if l.debugErr != nil {
		return nil, l.debugErr
	}
	for _, line := range l.debugEmit {
		level, msg, _ := strings.Cut(line, " ")
		fn(level, msg)
	}
	l.debugFn = fn
	var once sync.Once
	return func() { once.Do(func() { l.debugEnded.Add(1) }) }, nil
}

func (l *fakeLocal) onExec(fn func(ctx context.Context, req call.Request) (call.Result, error)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.execFn = fn
}

// onDebug makes DebugHere fail with err, or else send lines ("level msg") before it returns.
func (l *fakeLocal) onDebug(err error, lines ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.debugErr, l.debugEmit = err, lines
}

func (l *fakeLocal) execCalls() []call.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]call.Request(nil), l.execs...)
}

func (l *fakeLocal) attached() []debugAttach {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]debugAttach(nil), l.debugs...)
}

// emit sends a line down the last attached stream.
func (l *fakeLocal) emit(level, msg string) {
	l.mu.Lock()
	fn := l.debugFn
	l.mu.Unlock()
	fn(level, msg)
}

// fakeMembers records the membership changes and Raft commands it is asked for.
type fakeMembers struct {
	mu      sync.Mutex
	err     error
	joins   []raftfsm.Member
	removes []string
	applies [][]byte
	callers []auth.Caller
	rids    []string
	table   []string          // the node table's ids; nil: nodeID and "n2"
	gone    []string          // more entries of the node table, held for their removal (Removing)
	addrs   map[string]string // their cluster ports (RaftAddr), where a test gives them
	revoked map[string]bool   // revoked certificate fingerprints
}

func (m *fakeMembers) Revoked(cert string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked[cert]
}

// revoke revokes the certificate of that fingerprint.
func (m *fakeMembers) revoke(cert string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = map[string]bool{}
	}
	m.revoked[cert] = true
}

func (m *fakeMembers) ID() string { return nodeID }

func (m *fakeMembers) Nodes() []raftfsm.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.table
	if ids == nil {
		ids = []string{nodeID, "n2"}
	}
	nodes := make([]raftfsm.Node, len(ids))
	for i, id := range ids {
		nodes[i] = raftfsm.Node{ID: id, RaftAddr: m.addrs[id]}
	}
	for _, id := range m.gone {
		nodes = append(nodes, raftfsm.Node{ID: id, RaftAddr: m.addrs[id], Up: true, Removing: true})
	}
	return nodes
}

// Servers is the Raft configuration: the tests keep it empty and change the table only.
func (m *fakeMembers) Servers() ([]raftfsm.Server, error) { return nil, nil }

// setTable replaces the node table.
func (m *fakeMembers) setTable(ids ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.table = append([]string{}, ids...)
}

// setAddr gives node id's cluster port in the table.
func (m *fakeMembers) setAddr(id, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.addrs == nil {
		m.addrs = map[string]string{}
	}
	m.addrs[id] = addr
}

func (m *fakeMembers) record(ctx context.Context) error {
	m.callers = append(m.callers, auth.CallerFrom(ctx))
	m.rids = append(m.rids, httpwire.RequestID(ctx))
	return m.err
}

func (m *fakeMembers) Join(ctx context.Context, j raftfsm.Member) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.joins = append(m.joins, j)
	return m.record(ctx)
}

func (m *fakeMembers) RemoveNode(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removes = append(m.removes, id)
	return m.record(ctx)
}

func (m *fakeMembers) ApplyForwarded(ctx context.Context, cmd []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applies = append(m.applies, cmd)
	return m.record(ctx)
}

// calls is how many times any method but ID ran.
func (m *fakeMembers) calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.callers)
}

// membersSeen is a copy of what a fakeMembers recorded.
type membersSeen struct {
	joins   []raftfsm.Member
	removes []string
	applies [][]byte
	callers []auth.Caller
	rids    []string
}

func (m *fakeMembers) seen() membersSeen {
	m.mu.Lock()
	defer m.mu.Unlock()
	return membersSeen{slices.Clone(m.joins), slices.Clone(m.removes), slices.Clone(m.applies), slices.Clone(m.callers), slices.Clone(m.rids)}
}

func (m *fakeMembers) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

// testNode is a real cluster port with the node-to-node server on it, over the fakes.
type testNode struct {
	addr    string // host:port of the cluster port
	url     string // http://host:port (https:// with TLS)
	local   *fakeLocal
	members *fakeMembers
	leaves  atomic.Int32
	port    *peer.Port
	srv     *peer.Server
	stopped sync.Once
}

// proved is how the test nodes' clients prove themselves, unless a test says otherwise.
var proved = peer.Proof{Secret: secret}

// setup is what a test may change before its node is built.
type setup struct {
	peer  peer.ServerConfig
	proof peer.Proof // proved unless set
	addr  string     // where the port listens; 127.0.0.1:0 unless set
}

func newNode(t *testing.T, opts ...func(*setup)) *testNode {
	t.Helper()
	n := &testNode{local: &fakeLocal{}, members: &fakeMembers{}}
	s := setup{peer: peer.ServerConfig{Local: n.local, Members: n.members, Leave: func() { n.leaves.Add(1) }}, proof: proved,
		addr: "127.0.0.1:0"}
	for _, o := range opts {
		o(&s)
	}
	port, err := peer.Listen(s.addr, s.proof, s.peer.Logger)
	if err != nil {
		t.Fatal(err)
	}
	port.Admit(n.members, nil)
	srv := peer.NewServer(s.peer)
	srv.Serve(port)
	n.srv = srv
	t.Cleanup(func() { n.stop(context.Background(), t) })
	n.port = port
	n.addr = port.Addr().String()
	n.url = "http://" + n.addr
	if s.proof.TLS != nil {
		n.url = "https://" + n.addr
	}
	return n
}

// stop closes the node's server, which lets the calls running finish until ctx ends, and its
// port; the second stop does nothing.
func (n *testNode) stop(ctx context.Context, t *testing.T) {
	n.stopped.Do(func() {
		if err := n.srv.Close(ctx); err != nil && ctx.Err() == nil {
			t.Error(err)
		}
		if err := n.port.Close(); err != nil {
			t.Error(err)
		}
	})
}

// newClient is a client proving itself with proof, closed when the test ends.
func newClient(t *testing.T, proof peer.Proof) *peer.Client {
	c := peer.NewClient(proof)
	t.Cleanup(c.Close)
	return c
}

// do sends one HTTP request (headers as name, value pairs) on a connection proved with proof and
// returns status and body.
func do(t *testing.T, proof peer.Proof, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	code, b, err := send(t, proof, method, url, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return code, b
}

// send is do that returns the error of a request that got no answer. A POST is application/json
// unless hdr sets another Content-Type; a header given as "" is left out, and "Host" sets the
// request's Host.
func send(t *testing.T, proof peer.Proof, method, url, body string, hdr ...string) (int, string, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json") // as a node sends it, unless hdr says otherwise
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		switch {
		case hdr[i] == "Host":
			req.Host = hdr[i+1]
		case hdr[i+1] == "":
			req.Header.Del(hdr[i])
		default:
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) { return proof.Dial(ctx, addr, 0) }
	tr := &http.Transport{DialContext: dial}
	if proof.TLS != nil {
		tr = &http.Transport{DialTLSContext: dial}
	}
	hc := &http.Client{Transport: tr}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), nil
}

// wantKind checks that err is of kind and presents with status.
func wantKind(t *testing.T, err, kind error, status int) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, kind) {
		t.Fatalf("%v is not %v", err, kind)
	}
	if p := errkind.Classify(err); p.Status != status {
		t.Fatalf("%v presents as %d, want %d", err, p.Status, status)
	}
}

// member is a joining node with no labels, a voter.
func member(id, raftAddr, httpAddr string) raftfsm.Member {
	return raftfsm.Member{ID: id, RaftAddr: raftAddr, HTTPAddr: httpAddr}
}
