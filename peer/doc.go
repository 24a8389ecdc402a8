// Package peer is the node-to-node channel: the client one node uses to reach another, and the
// routes that answer it.
//
//   - POST /api/core/v1/command/{module}/execute: a checked execute forwarded to the module's owner
//     (Client.Exec). The owner runs it through the same core path, for the caller named in the
//     request (auth.SetNodeCredentials); a node that does not host the module answers 409 so the
//     sender can retry with a fresh ring.
//   - GET /api/core/v1/command/{module}/debugger: a WebSocket of [severity, "line"] frames, the
//     module's log lines from its owner (Client.Debug).
//   - POST /api/core/v1/cluster/join, /leave, /apply: membership changes and Raft commands a
//     follower forwards to the leader (Client.Join, Client.Forward).
//
// Every route is for nodes only: the caller must have authenticated with the cluster secret (or
// the engine runs with --auth none). Errors travel as the engine's error body and come back out
// of the client as errors of the same kind (httpwire.ProblemOf), so a caller cannot tell which
// node failed.
package peer
