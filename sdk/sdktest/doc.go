// Package sdktest runs a driver in-process against a fake host, for driver authors' tests.
//
// New wires the driver's sdk.Runtime and a fake Host through go-plugin's in-process gRPC test
// connection, so every call crosses the same wire as in production (Driver service one way, the
// Host callback service over the go-plugin broker the other). The fake host records statuses,
// debug log lines, saved settings and published messages, routes driver-to-driver calls to mock
// modules, and streams status subscriptions.
//
// It is deliberately small; issue 6 grows it into a full harness (mock transports, time control).
package sdktest
