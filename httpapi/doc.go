// Package httpapi is the engine's HTTP front door for clients and operators: the PlaceOS-compatible
// client routes under /api/engine/v2 (execute, status, function listing, types, module control,
// the WebSocket control API), the management API (the model's entities, pull, recompile), this
// node's operator routes under /api/core/v1 (liveness, readiness, drivers, chaos), /metrics, the
// OpenAPI document and /auth/authority.
//
// It parses and maps; it decides nothing. A request is authenticated (Config.Auth, package auth),
// parsed into a call.Request or a model change, and handed to the engine through the small
// interfaces of deps.go (package core implements Engine and Node, package raftfsm Models, package
// subscriptions Watcher); errors reach the caller through httpwire.WriteError and
// errkind.Classify, the one error mapping. Every management read answers from the model as the
// caller's clearance may read it (Models.ModelFor: protected settings and repository credentials
// above it redacted). Other nodes never call this server: node-to-node calls go to the cluster
// port (package peer).
//
// The WebSocket control API (ws*.go) runs each session with one reader and a bounded outgoing
// queue whose writer goroutine exists only while messages wait (ws_out.go): an idle session is
// one goroutine and about 12 KiB. A client that does not read is disconnected, never slowing the
// others; one that answers neither data nor the heartbeat's ping for a heartbeat period is gone
// and is disconnected too. Binds are status watches (Watcher), execs go through the engine's one
// execute path with the session's caller. A session lasts no longer than the credential that
// opened it: a bearer token's session is closed with 4001 when the token expires (ws.go,
// WSCloseCredentialExpired), and everything it started carries that deadline.
// Every frame goes out through one writer, which also keeps it valid UTF-8 whatever a driver or
// Redis holds (ws_out.go).
// Under --auth none every caller is an admin, which is why Start then refuses a non-loopback
// address, and the middleware a request whose Host is not a loopback name: a DNS-rebound page
// would otherwise pass as the node's own origin (rebind.go).
//
// Close drains (shutdown.go): requests and WebSocket execs in flight may finish until shortly
// before its deadline; then every request's and session's context (the server's base context) is
// cancelled with ErrShuttingDown, so each answers 503 through the one error mapping before its
// connection closes, rather than the connection closing with no answer.
//
// Resources are bounded (docs/protocol.md §6.1, §7.7): read, write and idle timeouts; no drain
// of a body a handler left unread (middleware.go); a connection limit in all and per address,
// with a small reserve that serves only liveness and readiness probes, where idle connections
// (half-sent headers, idle keep-alive) make room for newcomers (connlimit.go); a session's
// outgoing queue bounded in messages and bytes (ws_out.go); limits
// on bindings per session and sessions per user and per node, refused with 429; and a bound on
// the identifiers a client names statuses, functions and modules by (ident.go), refused with 400.
package httpapi
