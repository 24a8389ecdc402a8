// Package plugin is the wire between the engine (host) and a driver process: the gRPC services of
// proto/driver.proto, the go-plugin handshake, and the adapters that serve and dial them.
//
// The host launches a driver binary with go-plugin and gets a *Client (the Driver service). When
// the client is created the host serves its Host callback service on the go-plugin broker and tells
// the driver the broker id through Driver.Init; the driver dials it and gets a proto.HostClient.
// Everything a driver does to the outside world (status, logs, calls to other modules,
// subscriptions, settings) goes through that callback service.
//
// This package imports nothing of ours, so driver binaries stay small.
package plugin
