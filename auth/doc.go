// Package auth decides who is calling and what they may do.
//
// Callers are users (an API key from the --api-keys file, or a bearer token: an HS256, RS256 or
// ES256 JWT) or other nodes of the cluster, acting for the user whose call they forward.
// Authenticator reads a user's credential from a client request — header first, then query
// parameter, then cookie, as PlaceOS clients send them — and yields a Caller: a user id, a
// Clearance (user, support, admin) and where the credential that authenticated it travelled
// (header, query, cookie), which the HTTP server's browser-safety rule needs, and when the
// credential stops being accepted (Expires: a bearer token's exp plus the verifier's leeway; an
// API key never expires), which ends a WebSocket session the credential opened. Under --auth none
// every caller is an admin. A node proves itself on the cluster port (package peer: its
// certificate, or the cluster secret without TLS); NodeCaller and SetNodeCredentials carry the
// caller it acts for.
//
// The API keys can be replaced while the node runs (SetAPIKeys, ReloadAPIKeys: the command reads
// the --api-keys file again on SIGHUP). Requests read the keys in force through an atomic pointer,
// without a lock; a file failing any check is refused whole and the keys in force stay. A caller
// an API key authenticated remembers the key (as its digest), so that Revoked can judge it again
// against the keys in force after a reload: a key removed, given to another user or with a lower
// role revokes it, and the HTTP server ends the WebSocket sessions such callers opened
// (OnAPIKeysChange). Each request over REST authenticates afresh and needs no such judgement.
//
// Allowed is the one clearance rule for driver functions, and ModuleAllowed the one rule for
// protected (_-prefixed) modules (docs/protocol.md §8): the engine core applies both to every
// execute, whether it came over REST, the WebSocket or from another driver, and ModuleAllowed to
// status reads and function listings too.
//
// Bearer tokens are read strictly: exp, nbf and iat must be JSON numbers (RFC 7519 NumericDate;
// the JWT library alone would also take a string holding a number), and a "role" claim must be
// exactly user, support, admin or administrator — a program issues it, so " admin " or "ADMIN"
// is a token made some other way and is refused, where the API-keys file an operator types is
// read with its case folded and spaces trimmed (ParseClearance). PlaceOS itself issues no role
// claim; its clearance travels as the u.p flags.
//
// The package knows nothing of routes: which routes are open to anonymous callers is the HTTP
// server's business.
package auth
