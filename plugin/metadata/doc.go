// Package metadata is the driver's metadata document, the JSON a driver reports about itself and
// the engine reads (docs/protocol.md §4): its shape (Metadata, Signature, Schema, the security
// level names) and the order-keeping object (Ordered) both sides parse it with. The driver
// (package sdk) builds a document by reflection on its Go declarations and encodes it; the engine
// decodes it to bind arguments, check clearance and list functions. Keeping one definition here
// means the two sides cannot drift apart.
//
// Functions and parameters keep declaration order (callers bind positional arguments in that
// order), which encoding/json maps do not, so every object keyed by a name is an Ordered.
//
// Like package plugin it imports nothing of the engine's host side, so driver binaries stay small.
package metadata
