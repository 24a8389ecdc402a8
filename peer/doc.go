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
// one. Frames are written in batches (framewriter.go): a writer that finds a write under way only
// appends its frame, and one that will write first lets the other goroutines ready to run append
// theirs when other calls are in flight, so under load one system call (one TLS record) carries
// many frames on both nodes, while a lone call's frame goes out at once. It replaced an HTTP/1.1
// request per call, whose framing and goroutine hand-offs on both nodes cost more than the
// owner's own work on the call. Nothing about a call changes with it: the deadline travels with
// the call (the remaining milliseconds), a caller that is cancelled cancels the owner's work (a
// cancel frame; at the deadline none is sent, the owner ends the call at its own), the request id and the caller (user id and clearance) travel as the HTTP
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
//     Client.Remove, Client.Forward).
//   - GET /api/core/v1/status: this node's status document, for another node answering for the
//     whole cluster (Client.NodeStatus; the client API's /api/core/v1/status/cluster).
//   - GET /api/core/v1/cluster/members/{node}: {"member": bool}, whether this node lists that
//     node (Client.IsMember; below).
//
// Over TLS every route and every exec call also wants the certificate to name a node (else 403).
// Errors travel as the engine's error body and come back out of the client as errors of the same
// kind (httpwire.ProblemOf), so a caller cannot tell which node failed.
//
// # Members only
//
// A certificate of the cluster's CA proves only that the CA signed it: `engine tls init` may have
// issued it for a node that never joined, or its node may have left or been removed. Over TLS the
// port therefore also wants the certificate's node to be a member, in this node's view (Roster,
// given with Port.Admit as soon as the Store is open): in its node table or its Raft
// configuration. Either counts, because a join adds the node to the configuration first and to
// the table after, and a removal takes it out of both.
//
//   - HTTP routes: checked on every request; a non-member gets 403 access_denied (ErrNotMember),
//     logged with its name and address. The one exception is the join route (any method: a
//     joining node probes it with a GET first), which a node reaches before it is a member; it
//     adds only the node the certificate names.
//   - The exec protocol: members only, checked before the greeting is answered; a refused node's
//     client falls back to HTTP, which answers the 403.
//   - Raft: a member, or any certificate of the CA while this node does not list itself in either
//     view. A node that is joining has an empty view until the leader's first AppendEntries has
//     replicated the configuration and the table, and those RPCs come from the leader, which that
//     empty view cannot name; a node that lists itself has the leader in its view (the leader
//     added it). A node that no longer lists itself has been removed and is shutting down.
//
// Raft and exec connections are long-lived: each one checks its node again when data arrives,
// at most once a second, and is closed (logged: cluster connection dropped) once its node is no
// longer admitted, so a node removed from the cluster loses the connections it had within about
// a second of its next RPC. Without TLS there is no name to check: the cluster secret is the only
// proof.
//
// # Revoked certificates
//
// A name is not enough to revoke: the CA may sign another certificate for the same name, and a
// removed node's name may come back. Every rule above first refuses a revoked certificate
// (Roster.Revoked, by its SHA-256 fingerprint, clustertls.Fingerprint: ErrRevoked, 403), on every
// route, the join's included, and for Raft and exec connections, open ones included. The join
// route hands the leader the fingerprint of the joining connection's certificate (Member.Cert,
// whatever the body says); the leader refuses a revoked one too, and records it for the node, so
// that an operator's removal of the node (POST /cluster/leave {"id"} to another member,
// Client.Remove) revokes it (raftfsm's revoke.go). The membership question carries the
// fingerprint (?cert=), so a member that knows of a removal the asking node has not applied yet
// answers no.
//
// A node that was down while a new node joined does not list the newcomer until it has caught
// up, and it catches up only from the leader, which may by then be the newcomer. So a Raft
// connection from a node this node's view lacks is also admitted when a member it lists says the
// node is a member (GET /cluster/members/{node}, asked of each member in turn; the answer is kept
// 10 s, and a vouched connection asks again that often). Taking any certificate while the node
// knows no leader would also have let it catch up, but would hand every election and restart to
// whoever holds a stray certificate, which can claim a higher term and write the log. What stays
// open: a node that was down while another was removed admits the removed node until it has
// caught up.
//
// # Removal
//
// The leave route takes exactly {"id"} naming a member (another field is 400, a non-member 404):
// a body that named the node another way once made the node asked leave instead. A removed node
// is not told — the leader stops talking to it, and its own table still shows every node up —
// and a node restarted without --join after it left waits for a leader that never comes.
// RemovalWatch finds out (its Raft configuration without it; started without --join outside its
// own configuration, with no leader; or, with no leader, a member answering that it is not one)
// and logs it once at ERROR with what to do; the node then answers in state NotMemberState (core:
// not ready, GET /cluster and executes 503 with why). The process keeps running: a service
// manager would start it again, and it would loop.
//
// # Browsers
//
// The cluster port serves nodes only, whatever the auth mode; under --auth none (Proof.Open) it
// takes every connection, so a web page could make a browser reach it on loopback. Every request
// a browser could send is refused with 403 (ErrBrowserRequest), logged with the remote address
// (at most once a second at WARN): one carrying an Origin or any Sec-Fetch-* header, a POST whose
// Content-Type is not application/json (what Client always sends; a page cannot send it to
// another origin without a preflight no route answers), and, on an open port, a Host that is a
// DNS name rather than an IP address or localhost (a page that rebound its name to the port is
// same-origin to the browser, and may then omit Origin on a GET). A name as Host is fine where
// the port wants TLS or the cluster secret, which no page can produce.
package peer
