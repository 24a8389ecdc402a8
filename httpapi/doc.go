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
// Authentication is not here yet: until it arrives every caller is treated as an admin, which is
// why Start refuses a non-loopback address unless Config.AllowRemote is set. Config.Authenticate
// is the seam where credentials will be checked.
package httpapi
