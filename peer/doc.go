// Package peer is the node-to-node channel: the cluster port every node listens on, the routes it
// serves to the other nodes, and the client a node uses to reach them.
//
// The cluster port (Port, --raft-addr) is one TCP listener that carries Raft and the node-to-node
// HTTP routes. Every connection first proves that a node of the cluster opened it (Proof): with
// the cluster's certificates (package clustertls) a mutual TLS handshake, else a greeting derived
// from the cluster secret; a process that cannot is turned away before anything else it sends is
// read, Raft and HTTP alike. Its first byte then tells a Raft RPC (a small type number) from an
// HTTP request (a method name). A node with neither certificates nor secret takes no connection
// (under --auth none, every one). Plain TCP is allowed on loopback, or with --insecure-cluster.
//
// The routes (Server):
//
//   - POST /api/core/v1/command/{module}/execute: a checked execute forwarded to the module's owner
//     (Client.Exec). The owner runs it through the same core path, for the caller named in the
//     request (auth.SetNodeCredentials, auth.NodeCaller); a node that does not host the module
//     answers 409 so the sender can retry with a fresh ring.
//   - GET /api/core/v1/command/{module}/debugger: a WebSocket of [severity, "line"] frames, the
//     module's log lines from its owner (Client.Debug).
//   - POST /api/core/v1/cluster/join, /leave, /apply: membership changes (a certificate joins only
//     as its own node) and Raft commands a follower forwards to the leader (Client.Join,
//     Client.Forward).
//
// Errors travel as the engine's error body and come back out of the client as errors of the same
// kind (httpwire.ProblemOf), so a caller cannot tell which node failed.
package peer
