package peer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"time"

	"github.com/placeos-go/engine/clustertls"
)

// Proof is how a connection to the cluster port shows that a node of the cluster opened it. The
// port checks it before it reads anything else from the connection — Raft and HTTP alike — so
// everything behind the port may take its caller for a node.
//
//   - TLS: mutual TLS, both sides presenting a certificate of the cluster's CA.
//   - Secret, without TLS: the connection starts with a greeting derived from the cluster secret.
//     Whoever can read the traffic can replay it; it keeps out everyone else (a local user of a
//     shared host, a scanner). Use TLS on any network you do not control.
//   - Open, with neither: every connection is a node's (--auth none, development only).
//
// A Proof with none of the three takes no connection at all: a node that cannot tell another
// node from anyone else runs alone.
type Proof struct {
	TLS    *clustertls.Material
	Secret string
	Open   bool
}

// ErrNoProof: the cluster port of a node without TLS or cluster secret, under --auth keys,
// accepts nobody.
var ErrNoProof = errors.New("this node has neither TLS (--tls-ca, --tls-cert, --tls-key) nor --cluster-secret, so its cluster port takes no connection")

// greetingMagic starts the greeting: neither a Raft RPC type nor an HTTP method, so a peer that
// sends no greeting is told apart from one that sends a wrong one only by the digest check.
const greetingMagic = "\x7fENGINE-CLUSTER/1\n"

// greeting is what a connection sends first on a cluster port without TLS: the magic and an
// HMAC of it under the cluster secret (the secret itself never travels).
func (p Proof) greeting() []byte {
	m := hmac.New(sha256.New, []byte(p.Secret))
	m.Write([]byte(greetingMagic))
	return m.Sum([]byte(greetingMagic))
}

// Dial opens a connection to another node's cluster port and proves this node on it.
func (p Proof) Dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	if p.TLS != nil {
		return p.TLS.Dial(ctx, addr, timeout)
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || p.Secret == "" {
		return conn, err
	}
	// The greeting fits in any socket buffer: the write does not wait for the other side.
	_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := conn.Write(p.greeting()); err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// check is the accepting side: it completes the TLS handshake or reads and checks the greeting,
// and returns the connection to read the rest from.
func (p Proof) check(conn net.Conn) (net.Conn, error) {
	switch {
	case p.TLS != nil:
		tc := tls.Server(conn, p.TLS.ServerConfig())
		if err := tc.Handshake(); err != nil {
			return nil, err
		}
		return tc, nil
	case p.Secret != "":
		want := p.greeting()
		got := make([]byte, len(want))
		if _, err := io.ReadFull(conn, got); err != nil {
			return nil, errors.New("no cluster greeting: " + err.Error())
		}
		if !hmac.Equal(got, want) {
			return nil, errors.New("wrong cluster greeting (no or another cluster secret)")
		}
		return conn, nil
	case p.Open:
		return conn, nil
	}
	return nil, ErrNoProof
}
