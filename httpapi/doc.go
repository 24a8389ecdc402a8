// Package httpapi serves the engine's HTTP surface: the PlaceOS-compatible client routes under
// /api/engine/v2 (execute, status, function listing, types, module control) and this node's routes
// under /api/core/v1 (liveness, readiness, loaded drivers, driver status, chaos).
//
// It owns the translation between HTTP and the engine: routing, module slug parsing, request ids,
// body limits, argument pre-checks against driver metadata, function security, and the single
// place (errors.go) that turns any error into an HTTP status and a PlaceOS error body. The engine
// itself is reached only through the small interfaces in deps.go, which use builtin and standard
// library types so that core can satisfy them without importing this package.
//
// It also serves the WebSocket control API (ws*.go: bind/unbind/exec/debug/ignore, one writer and
// a bounded queue per session, slow clients disconnected) on top of a Watcher (package
// subscriptions) and a Debugger, and owns authentication and clearance (auth*.go): API keys,
// bearer tokens, the cluster secret of node-to-node calls, and the PROTOCOL §8 checks shared by
// REST, WebSocket and driver-to-driver calls. With no Authenticate (--auth none) every caller is
// an admin, which is why Start then refuses a non-loopback address.
package httpapi
