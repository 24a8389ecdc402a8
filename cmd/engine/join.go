package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/clustertls"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/peer"
	"github.com/placeos-go/engine/raftfsm"
)

// Joining (docs/protocol.md §1.2, "--bootstrap and --join"). Before anything is created in the
// data directory, every --join address is asked, over the cluster port and with this node's
// proof (its certificate, or the cluster greeting), whether it is a member's cluster port that
// takes this node:
//
//   - one is: the node joins (a node with no Raft state never bootstraps then, even with
//     --bootstrap: it is a member that lost its data directory, or a new node);
//   - one answers and turns the node away (a certificate of another CA, another cluster secret,
//     a 403, an HTTP server that is no cluster port): the node stops with the reason, having
//     created nothing;
//   - none answers at all (connection refused, unreachable, no such host): with --bootstrap and no
//     Raft state the node asks again for bootstrapWait, then starts a new cluster alone (the
//     first node of a new cluster, configured like the others); otherwise it goes on and joins,
//     retrying for a minute, as the members may be starting too.

// bootstrapWait is how long a node with --bootstrap, --join and no Raft state keeps asking its
// --join addresses before it concludes that none is up and starts a new cluster.
const bootstrapWait = 3 * time.Second

// probeTimeout bounds one question to one address (the TCP connection, the proof, the answer).
const probeTimeout = 5 * time.Second

// memberAddrs reads --join: a comma list of members' cluster ports (memberAddr), without
// repeats.
func memberAddrs(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		addr, err := memberAddr(part)
		if err != nil {
			return nil, err
		}
		if !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--join %q: want the cluster port (--raft-addr) of a member as host:port, e.g. 10.0.0.1:7000", s)
	}
	return out, nil
}

// probeAnswer is what one --join address said.
type probeAnswer int

const (
	answerNone    probeAnswer = iota // no connection: refused, unreachable, no such host
	answerMember                     // a member's cluster port, which took this node's proof
	answerSilent                     // it took the connection but did not answer in time (a frozen process?)
	answerRefused                    // it answered and turned this node away
	// answerClosed: it closed the connection at once, before any answer. A member that takes
	// no connection from this node does that (another --cluster-secret, TLS on one side only),
	// but so does a TCP proxy or service-mesh sidecar whose member behind it is down: a refusal
	// for a new node, not for a member restarting (probeJoin).
	answerClosed
)

// joinProbe is what the --join addresses said, address by address.
type joinProbe struct {
	members []string
	silent  map[string]error
	none    map[string]error
}

// anyAnswer reports whether some address answered as a member, or took the connection.
func (p joinProbe) anyAnswer() bool { return len(p.members) > 0 || len(p.silent) > 0 }

// probeJoin asks every --join address once. A refusal by any of them is returned as the error:
// the node must not start (nor bootstrap) with a --join that turns it away. member says this
// node has Raft state (a member restarting): to it, an address that closes the connection at
// once is one that does not answer, with a WARN. Else a cluster whose nodes reach each other
// through proxies could never start again after all of them stopped: each member's proxy
// closes at once while its member is down, and each node would refuse to start first.
func probeJoin(ctx context.Context, proof peer.Proof, addrs []string, log hclog.Logger, member bool) (joinProbe, error) {
	p := joinProbe{silent: map[string]error{}, none: map[string]error{}}
	for _, addr := range addrs {
		answer, err := probeMember(ctx, proof, addr)
		switch answer {
		case answerRefused:
			return p, err
		case answerClosed:
			if !member {
				return p, err
			}
			log.Warn("a --join address closed the connection at once; this node is a member (it has Raft state) and starts anyway: "+
				"a proxy in front of a member that is down does this too, but so does a member that takes no connection from this node",
				"addr", addr, "error", err)
			p.none[addr] = err
		case answerMember:
			p.members = append(p.members, addr)
		case answerSilent:
			log.Warn("a --join address took the connection but did not answer", "addr", addr, "error", err)
			p.silent[addr] = err
		default:
			log.Debug("a --join address does not answer", "addr", addr, "error", err)
			p.none[addr] = err
		}
	}
	return p, nil
}

// probeMember asks addr, without changing anything there, whether it is a member's cluster port
// that takes this node: a GET of the join route, which only a cluster port serves (it answers
// 405, the route taking POST), and only to a connection that proved itself. It runs on one
// connection of its own, so that where it failed — the TCP connection, the proof, the answer —
// says who is there.
func probeMember(ctx context.Context, proof peer.Proof, addr string) (probeAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := proof.Dial(ctx, addr, 0)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return answerNone, err // nothing listens, no route, no such host
		}
		return classifyProbeError(ctx, proof, addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	scheme := "http"
	if proof.TLS != nil {
		scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+httpwire.NodeBase+"/cluster/join", nil)
	if err != nil {
		return answerRefused, fmt.Errorf("--join %s: %w", addr, err)
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		return classifyProbeError(ctx, proof, addr, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return classifyProbeError(ctx, proof, addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusMethodNotAllowed:
		return answerMember, nil
	case resp.StatusCode == http.StatusForbidden && resp.Header.Get(httpwire.RequestIDHeader) != "" && json.Valid(body):
		// The node routes' own refusal (a certificate that names no node).
		var eb httpwire.ErrorBody
		_ = json.Unmarshal(body, &eb)
		hint := ""
		if strings.Contains(eb.Message, "certificate was revoked") {
			// Removal revokes the certificate for good; the way back is a new one for the name.
			// tls init keeps a pair it finds, so the revoked one must go first or nothing changes.
			hint = "; to bring this node back, give it a new certificate: delete its old pair (<node>.pem, <node>-key.pem) in the folder engine tls init wrote, then engine tls init --out <that folder> --nodes <this node> (the CA is kept), copy the new pair here and start it again with --join (docs/security.md)"
		}
		return answerRefused, fmt.Errorf("--join %s turned this node away (HTTP 403): %s%s", addr, eb.Message, hint)
	}
	return answerRefused, notClusterPort(addr, fmt.Sprintf("HTTP %d", resp.StatusCode))
}

// notClusterPort is the refusal of a --join address that speaks plain HTTP: a client API.
func notClusterPort(addr, answered string) error {
	return errkind.Wrap(peer.ErrNotClusterPort, nil,
		"--join %s is a client API address (it answered %s); --join takes a member's cluster port, its --raft-addr", addr, answered)
}

// classifyProbeError sorts a failed question to addr, which took the TCP connection.
func classifyProbeError(ctx context.Context, proof peer.Proof, addr string, err error) (probeAnswer, error) {
	var header tls.RecordHeaderError
	var timeout net.Error
	switch {
	case errors.Is(err, clustertls.ErrNotACluster):
		return answerRefused, fmt.Errorf("--join %s is not a node of this cluster: its certificate is not signed by this node's --tls-ca (%w)", addr, err)
	case errors.As(err, &header) && string(header.RecordHeader[:]) == "HTTP/":
		return answerRefused, notClusterPort(addr, "plain HTTP to TLS")
	case ctx.Err() != nil || errors.As(err, &timeout) && timeout.Timeout():
		return answerSilent, fmt.Errorf("--join %s took the connection but did not answer within %s", addr, probeTimeout)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE):
		return answerClosed, fmt.Errorf("--join %s closed the connection at once: it takes no connection from this node "+
			"(another --cluster-secret, TLS on one side only, or a member under --auth keys with neither TLS nor a cluster secret): %w", addr, err)
	case proof.TLS != nil:
		return answerRefused, fmt.Errorf("--join %s refused this node's TLS handshake: %w (is it a node of this cluster, with the same --tls-ca? does it run TLS?)", addr, err)
	}
	return answerRefused, fmt.Errorf("--join %s: %w", addr, err)
}

// waitForMember asks the --join addresses again, for up to bootstrapWait, while none of them
// answers: a member that was restarting in that moment is joined rather than split from.
func waitForMember(ctx context.Context, proof peer.Proof, addrs []string, log hclog.Logger) (joinProbe, error) {
	deadline := time.Now().Add(bootstrapWait)
	for {
		p, err := probeJoin(ctx, proof, addrs, log, false) // only a node without Raft state waits
		if err != nil || p.anyAnswer() || time.Now().After(deadline) {
			return p, err
		}
		select {
		case <-ctx.Done():
			return p, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// join asks the members to add this node, each address in turn, retrying while the cluster is
// electing or unreachable, for up to a minute.
func (n *node) join(ctx context.Context, o *options) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	advRaft := o.AdvertiseRaft
	if advRaft == "" {
		advRaft = n.store.RaftAddr()
	}
	for wait, i := 100*time.Millisecond, 0; ; i++ {
		addr := o.joinAddrs[i%len(o.joinAddrs)]
		err := n.peers.Join(ctx, addr, raftfsm.Member{ID: o.NodeID, RaftAddr: advRaft, HTTPAddr: o.AdvertiseHTTP, Labels: o.Labels, NonVoter: !o.Voter})
		if err == nil {
			n.log.Info("joined the cluster", "via", addr)
			return nil
		}
		// Answers that retrying cannot change: refused, or not a cluster port at all.
		if errors.Is(err, errkind.BadRequest) || errors.Is(err, errkind.Unauthorized) || errors.Is(err, errkind.Forbidden) ||
			errors.Is(err, peer.ErrNotClusterPort) {
			return fmt.Errorf("join via %s: %w", addr, err)
		}
		level := hclog.Warn // the first failure; the retries, every 2 s at most, at DEBUG
		if i > 0 {
			level = hclog.Debug
		}
		n.log.Log(level, "join failed; retrying", "via", addr, "error", err)
		if (i+1)%len(o.joinAddrs) != 0 {
			continue // the next address at once
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("join via %s: %w", addr, err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 2*time.Second)
	}
}
