// Package auth decides who is calling and what they may do.
//
// Callers are users (an API key from the --api-keys file, or a bearer token: an HS256, RS256 or
// ES256 JWT) or other nodes of the cluster, acting for the user whose call they forward.
// Authenticator reads a user's credential from a client request — header first, then query
// parameter, then cookie, as PlaceOS clients send them — and yields a Caller: a user id and a
// Clearance (user, support, admin). Under --auth none every caller is an admin. A node proves
// itself on the cluster port (package peer: its certificate, or the cluster secret without
// TLS); NodeCaller and SetNodeCredentials carry the caller it acts for.
//
// Allowed is the one clearance rule for driver functions (docs/protocol.md §8): the engine core
// applies it to every execute, whether it came over REST, the WebSocket or from another driver.
//
// The package knows nothing of routes: which routes are open to anonymous callers is the HTTP
// server's business.
package auth
