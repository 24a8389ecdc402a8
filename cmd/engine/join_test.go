package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/peer"
)

// TestProbeAnswers: what a --join address says is told apart by where the question failed —
// nothing listening, a cluster port (405 on the join route), an HTTP server that is no cluster
// port, a port that closes the connection at once, one that takes it and says nothing.
func TestProbeAnswers(t *testing.T) {
	t.Parallel()
	open := peer.Proof{Open: true}
	listen := func(serve func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go serve(c)
			}
		}()
		return ln.Addr().String()
	}
	member := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMethodNotAllowed)
	}))
	t.Cleanup(member.Close)
	clientAPI := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(clientAPI.Close)
	// A member refusing a removed node's certificate, as the node routes do.
	revoked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "r-1")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":"access_denied","message":"the certificate was revoked: its node was removed from the cluster"}`))
	}))
	t.Cleanup(revoked.Close)
	closing := listen(func(c net.Conn) { _ = c.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	silent := listen(func(c net.Conn) { <-done; _ = c.Close() })
	nobody := testutil.FreeAddr(t) // claimed for this test, bound by no one

	for _, tt := range []struct {
		name string
		addr string
		want probeAnswer
		says string
	}{
		{"member", strings.TrimPrefix(member.URL, "http://"), answerMember, ""},
		{"client API", strings.TrimPrefix(clientAPI.URL, "http://"), answerRefused, "is a client API address (it answered HTTP 404); --join takes a member's cluster port, its --raft-addr"},
		{"certificate revoked", strings.TrimPrefix(revoked.URL, "http://"), answerRefused, "certificate was revoked: its node was removed from the cluster; to bring this node back, give it a new certificate: delete its old pair (<node>.pem, <node>-key.pem) in the folder engine tls init wrote, then engine tls init"},
		{"closes at once", closing, answerClosed, "closed the connection at once"},
		{"says nothing", silent, answerSilent, "took the connection but did not answer"},
		{"nobody listens", nobody, answerNone, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			got, err := probeMember(ctx, open, tt.addr)
			if got != tt.want {
				t.Fatalf("probe %s: answer %d (%v), want %d", tt.addr, got, err, tt.want)
			}
			if tt.says != "" && (err == nil || !strings.Contains(err.Error(), tt.says)) {
				t.Fatalf("probe %s: %v; want it to say %q", tt.addr, err, tt.says)
			}
			if tt.name == "client API" && !errors.Is(err, peer.ErrNotClusterPort) {
				t.Fatalf("a client API is not peer.ErrNotClusterPort: %v", err)
			}
		})
	}
}

// TestProbeJoinClosingAddress: an address that closes the connection at once turns a new node
// away, but not a member restarting (it has Raft state): behind a TCP proxy or sidecar, every
// member's address does that while the member is down, and a cluster whose nodes all stopped
// must be able to start one of them first.
func TestProbeJoinClosingAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close() // a proxy whose member is down
		}
	}()
	closing := ln.Addr().String()
	ctx := t.Context()
	if _, err := probeJoin(ctx, peer.Proof{Open: true}, []string{closing}, hclog.NewNullLogger(), false); err == nil ||
		!strings.Contains(err.Error(), "closed the connection at once") {
		t.Fatalf("a new node past an address that closes at once: %v; want the refusal", err)
	}
	p, err := probeJoin(ctx, peer.Proof{Open: true}, []string{closing}, hclog.NewNullLogger(), true)
	if err != nil {
		t.Fatalf("a member past an address that closes at once refused to start: %v", err)
	}
	if p.anyAnswer() || p.none[closing] == nil {
		t.Fatalf("a member's probe: %+v; want the address counted as not answering", p)
	}
}
