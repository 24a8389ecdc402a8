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
		{"closes at once", closing, answerRefused, "closed the connection at once"},
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
