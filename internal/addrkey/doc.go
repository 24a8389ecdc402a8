// Package addrkey names the remote address a per-address limit counts by, the same way for every
// listener of the node: the client API's connection limit (httpapi) and the cluster port's
// handshake places (peer). An IPv4 address counts alone, an IPv6 address by its /64, which one
// host usually holds whole.
package addrkey
