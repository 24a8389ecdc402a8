// Package peer is the node-to-node channel: the cluster port every node listens on, the routes it
// serves to the other nodes, and the client a node uses to reach them.
//
// The cluster port (Port, --raft-addr) is one TCP listener that carries Raft, the node-to-node
// HTTP routes and the exec protocol. Every connection first proves that a node of the cluster
// opened it (Proof): with the cluster's certificates (package clustertls) a mutual TLS handshake,
// else a greeting derived from the cluster secret; a process that cannot is turned away before
// anything else it sends is read, all three protocols alike. Its first byte then tells them apart:
// a Raft RPC (a small type number), an HTTP request (a method name), or the exec protocol's
// greeting (0xee). A node with neither certificates nor secret takes no connection (under
// --auth none, every one). Plain TCP is allowed on loopback, or with --insecure-cluster.
//
// Forwarded executes (Client.Exec: a checked call sent to the module's owner, which runs it
// through the same core path for the caller it is told, auth.NodeCallerOf) travel over the exec
// protocol: one connection per pair of nodes, opened on the first call and kept while calls come
// (closed after 90 s without any), carrying many calls at once as length-prefixed frames
// (frame.go). A call is written from the caller's goroutine; one reader per connection hands each
// answer to its call; the owner runs each call on a worker and writes the answer when it has
// one, and writers that queue behind each other share one system call. It replaced an HTTP/1.1
// request per call, whose framing and goroutine hand-offs on both nodes cost more than the
// owner's own work on the call. Nothing about a call changes with it: the deadline travels with
// the call (the remaining milliseconds), a caller that gives up cancels the owner's work (a
// cancel frame), the request id and the caller (user id and clearance) travel as the HTTP
// headers did, and an answer is the status and body the HTTP route would have given, read back
// by httpwire.ProblemOf into an error of the same kind — 409 for a module the node does not host,
// so the sender retries with a fresh ring. A link whose node goes silent while calls wait is
// pinged, and dropped after three more watchdog periods (2 s each) without a frame, failing its
// calls as unavailable rather than letting each wait out its deadline; a node that broke the
// connection fails them at once. A node that closes the exec greeting unanswered (a node of an
// older version) or answers something else is called over HTTP instead, for 30 s before the
// protocol is tried again; it echoes the greeting before it reads any call, so a call that falls
// back never ran.
//
// The HTTP routes (Server):
//
//   - POST /api/core/v1/command/{module}/execute: the forwarded execute over HTTP, for nodes of
//     older versions (body {"__exec__": fn, fn: args}; caller in X-User-ID and
//     X-Engine-Clearance, auth.NodeCaller).
//   - GET /api/core/v1/command/{module}/debugger: a WebSocket of [severity, "line"] frames, the
//     module's log lines from its owner (Client.Debug).
//   - POST /api/core/v1/cluster/join, /leave, /apply: membership changes (a certificate joins only
//     as its own node) and Raft commands a follower forwards to the leader (Client.Join,
//     Client.Forward).
//   - GET /api/core/v1/status: this node's status document, for another node answering for the
//     whole cluster (Client.NodeStatus; the client API's /api/core/v1/status/cluster).
//
// Over TLS every route and every exec call also wants the certificate to name a node (else 403).
// Errors travel as the engine's error body and come back out of the client as errors of the same
// kind (httpwire.ProblemOf), so a caller cannot tell which node failed.
package peer
