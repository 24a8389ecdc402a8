package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/httpwire"
)

// Port is this node's cluster port: one TCP listener that carries Raft, the node-to-node HTTP
// routes and the exec protocol. A connection proves it comes from a node (Proof: the TLS
// handshake, or the cluster greeting) before anything else it sends is read; its first byte then
// tells the protocols apart (a Raft RPC starts with a small type number, an HTTP request with a
// method name, the exec protocol with its greeting's 0xee).
type Port struct {
	ln     net.Listener
	proof  Proof
	log    hclog.Logger
	raft   *queue
	http   *queue
	exec   *queue
	hs     *handshakes // connections still in their handshake
	wg     sync.WaitGroup
	closed atomic.Bool

	adm atomic.Pointer[admission] // who is a member, for the Raft and exec connections over TLS

	refused atomic.Uint64
	warns   warnLimit
	accepts *httpwire.AcceptLog // failed accepts, rate-limited with a count
}

// Bounds of the connections that have not proved themselves yet (shared fairly between remote
// addresses: handshakes.go).
const (
	handshakeTimeout = 10 * time.Second
	maxHandshakes    = 256
)

// Listen opens the cluster port on addr, admitting the connections that show proof.
func Listen(addr string, proof Proof, log hclog.Logger) (*Port, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	p := &Port{ln: ln, proof: proof, log: log.Named("cluster-port"), hs: newHandshakes(maxHandshakes)}
	p.accepts = httpwire.NewAcceptLog(p.log, "cluster port", ln.Addr().String())
	p.raft, p.http, p.exec = newQueue(p), newQueue(p), newQueue(p)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address the port listens on.
func (p *Port) Addr() net.Addr { return p.ln.Addr() }

// Secure reports whether the port demands cluster certificates.
func (p *Port) Secure() bool { return p.proof.TLS != nil }

// open reports whether the port takes every connection (Proof.Open, with neither TLS nor secret).
func (p *Port) open() bool { return p.proof.TLS == nil && p.proof.Secret == "" && p.proof.Open }

// Raft is the listener of the Raft transport's connections.
func (p *Port) Raft() net.Listener { return p.raft }

// HTTP is the listener of the node-to-node HTTP server.
func (p *Port) HTTP() net.Listener { return p.http }

// Exec is the listener of the exec protocol's connections (frame.go).
func (p *Port) Exec() net.Listener { return p.exec }

// Admit gives the port the membership it admits Raft and exec connections over TLS by, and the
// client it asks members with about a node its view lacks (nil: it asks nobody); see the package
// comment. Until then it refuses them: call it as soon as the Store is open.
func (p *Port) Admit(r Roster, c *Client) {
	a := &admission{roster: r}
	if c != nil {
		a.vouch.ask = c.IsMember
	}
	p.adm.Store(a)
}

// admission is what Admit gave.
type admission struct {
	roster Roster
	vouch  vouchers
}

// admitRaft and admitExec are the rules of the two protocols (membership.go) under Admit's roster.
func (p *Port) admitRaft(peer peerCert) error {
	if a := p.adm.Load(); a != nil {
		return a.vouch.admitRaftVouched(a.roster, peer)
	}
	return errNoRoster
}

func (p *Port) admitExec(peer peerCert) error {
	if a := p.adm.Load(); a != nil {
		return admitMember(a.roster, peer)
	}
	return errNoRoster
}

// Refused counts the connections turned away (no proof of a node, or none of the protocols).
func (p *Port) Refused() uint64 { return p.refused.Load() }

// Close stops accepting and waits for connections still in their handshake.
func (p *Port) Close() error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := p.ln.Close()
	p.accepts.Stop()
	p.raft.close()
	p.http.close()
	p.exec.close()
	p.wg.Wait()
	return err
}

// Dial opens a connection to another node's cluster port and proves this node on it.
func (p *Port) Dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	return p.proof.Dial(ctx, addr, timeout)
}

func (p *Port) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			if p.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			p.accepts.Failed(err.Error())     // at the descriptor limit, one a retry: rate-limited
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: do not spin
			continue
		}
		hs, evicted, ok := p.hs.admit(conn)
		if evicted != nil {
			_ = evicted.Close() // its sort fails and says so
		}
		if !ok {
			p.refuse(conn, errors.New("too many connections in their handshake"))
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.sort(conn, hs)
		}()
	}
}

// sort checks the connection's proof and hands it to Raft, HTTP or exec by its first byte. Its
// handshake place (hs) is given back once the first byte is read, or it fails.
func (p *Port) sort(conn net.Conn, hs *handshake) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	proved, err := p.proof.check(conn)
	if err != nil {
		p.hs.release(hs)
		p.refuse(conn, err)
		return
	}
	conn = proved
	br := bufio.NewReader(conn)
	first, err := br.Peek(1)
	if !p.hs.release(hs) && err == nil {
		err = errors.New("its handshake place was given to another address's connection")
	}
	if err != nil {
		p.refuse(conn, err)
		return
	}
	_ = conn.SetDeadline(time.Time{})
	c := &peeked{Conn: conn, r: br}
	switch b := first[0]; {
	case b < 0x20: // a Raft RPC type
		if g, err := p.guard(c, p.admitRaft); err != nil {
			p.refuse(conn, err)
		} else {
			p.raft.put(g)
		}
	case b >= 'A' && b <= 'Z': // an HTTP method; the server checks each request (middleware)
		p.http.put(c)
	case b == execMagic[0]: // the exec protocol; the server reads the rest of its greeting
		if g, err := p.guard(c, p.admitExec); err != nil {
			p.refuse(conn, err)
		} else {
			p.exec.put(g)
		}
	default:
		p.refuse(conn, errors.New("neither a Raft RPC, an HTTP request nor an exec connection"))
	}
}

// guard admits a Raft or exec connection by rule when it came over TLS (the certificate names its
// node), and returns it wrapped so that it closes once the rule no longer admits that node. A
// connection without TLS names no node: its proof was the cluster secret, or none (Open).
func (p *Port) guard(c *peeked, rule func(peerCert) error) (net.Conn, error) {
	cs := c.tlsState()
	if cs == nil {
		return c, nil
	}
	peer := peerOf(cs)
	admit := func() error { return rule(peer) }
	if err := admit(); err != nil {
		return nil, err
	}
	return &memberConn{Conn: c, admit: admit, next: time.Now().Add(recheckEvery), gone: func(why error) {
		p.log.Warn("cluster connection dropped", "remote", c.RemoteAddr().String(), "peer", peer.node, "reason", why.Error())
	}}, nil
}

// refuse closes a connection that did not prove itself, and says so in the log (at most once a
// second at WARN, so that a scanner cannot flood it).
func (p *Port) refuse(conn net.Conn, why error) {
	_ = conn.Close()
	p.refused.Add(1)
	p.warns.log(p.log, "cluster connection refused", "remote", conn.RemoteAddr().String(), "reason", why.Error(),
		"refused_so_far", p.refused.Load())
}

// warnLimit logs at WARN at most once a second and at DEBUG in between, so that whoever can
// reach the port (a scanner, a web page) cannot flood the log.
type warnLimit struct{ last atomic.Int64 } // unix nanos of the last line at WARN

func (w *warnLimit) log(log hclog.Logger, msg string, args ...any) {
	now := time.Now().UnixNano()
	if last := w.last.Load(); now-last > int64(time.Second) && w.last.CompareAndSwap(last, now) {
		log.Warn(msg, args...)
		return
	}
	log.Debug(msg, args...)
}

// peeked is a connection whose first bytes were read to sort it; reads start with them.
type peeked struct {
	net.Conn
	r *bufio.Reader
}

func (c *peeked) Read(b []byte) (int, error) { return c.r.Read(b) }

// tlsState is the connection's TLS state, nil on plain TCP. (net/http fills Request.TLS only for
// a *tls.Conn, which a peeked connection is not; the node server reads this instead.)
func (c *peeked) tlsState() *tls.ConnectionState {
	if tc, ok := c.Conn.(*tls.Conn); ok {
		cs := tc.ConnectionState()
		return &cs
	}
	return nil
}

// tlsOf is the TLS state of a connection the port sorted (nil on plain TCP).
func tlsOf(conn net.Conn) *tls.ConnectionState {
	switch c := conn.(type) {
	case *peeked:
		return c.tlsState()
	case *memberConn:
		return tlsOf(c.Conn)
	}
	return nil
}

// queue is a net.Listener fed by the port's sorter.
type queue struct {
	p     *Port
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newQueue(p *Port) *queue {
	return &queue{p: p, conns: make(chan net.Conn, 64), done: make(chan struct{})}
}

func (q *queue) put(c net.Conn) {
	select {
	case q.conns <- c:
	case <-q.done:
		_ = c.Close()
	}
}

func (q *queue) Accept() (net.Conn, error) {
	select {
	case c := <-q.conns:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *queue) close() { q.once.Do(func() { close(q.done) }) }

// Close stops handing connections to this side (Raft, HTTP or exec, whichever stops); the port
// keeps its socket until Port.Close.
func (q *queue) Close() error {
	q.close()
	return nil
}

func (q *queue) Addr() net.Addr { return q.p.Addr() }
