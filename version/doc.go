// Package version names the engine's release: the one place the version lives. The module
// github.com/placeos-go/engine is tagged Tag on the commit that sets it, so a driver repository
// can require that tag; the SDK reports Number as versions.sdk in every driver's metadata
// (docs/protocol.md §4), `engine version` prints it, and `engine new driver` writes Tag into
// the go.mod of a new driver repository.
//
// Releasing: set Number to the new version in a commit of its own, then tag that commit
// v<Number> (git tag v0.2.0 && git push origin v0.2.0). Between releases Number stays at the
// last release, so a binary built from main still names a tag that exists.
package version
