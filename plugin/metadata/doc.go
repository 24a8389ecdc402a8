// Package metadata holds the JSON shapes of a driver's metadata that both sides of the plugin wire
// read and write: the driver (package sdk) encodes its description of itself, the engine decodes
// it to bind arguments, check clearance and list functions. Functions and parameters keep
// declaration order (callers bind positional arguments in that order), which encoding/json maps
// do not, so both sides go through Ordered.
//
// Like package plugin it imports nothing of the engine's host side, so driver binaries stay small.
package metadata
