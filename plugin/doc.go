// Package plugin is the wire between the engine (host) and a driver process: the gRPC services of
// proto/driver.proto, the go-plugin handshake, and the adapters that serve and dial them.
//
// The host launches a driver binary with go-plugin and gets a *Client (the Driver service). When
// the client is created the host serves its Host callback service on the go-plugin broker and tells
// the driver the broker id through Driver.Init; the driver dials it and gets a proto.HostClient.
// Everything a driver does to the outside world (status, logs, calls to other modules,
// subscriptions, settings) goes through that callback service.
//
// Sockets. The host names a folder for the driver's unix socket (PLUGIN_UNIX_SOCKET_DIR; the
// engine's supervisor does, and removes it). A driver run without one (go-plugin's own runner:
// tests, tools) makes its own plugin-dir* in the temp dir rather than leave a bare socket there,
// and removes it when Serve returns, on Exit (which the SDK uses after Terminate), when its host
// is gone, and on SIGTERM or SIGHUP (then it dies of the signal as before). A SIGKILL, or a panic,
// leaves it: only the host can clean up after those. Where the folder's path would make the
// socket's too long to bind (over 107 bytes), the socket goes in the temp dir as go-plugin has it.
//
// Fencing. A process served by Serve that has been sent a Heartbeat and then hears none for the
// fence time it names stops its modules (the Driver's Terminate, within FenceStopTime) and exits
// with FencedExitCode: its host is frozen and other nodes are taking its modules over (fence.go).
//
// This package imports nothing of ours, so driver binaries stay small.
package plugin
