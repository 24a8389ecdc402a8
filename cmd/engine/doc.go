// Command engine is the single binary of the engine: `engine serve` runs a node, `engine dev`
// runs a one-command demo (embedded Redis, the example drivers, simulated displays).
//
// `engine new driver NAME [--transport tcp|udp|http|ssh|websocket|logic]` (new.go) writes a
// driver, its harness tests and a simulated device that compile and pass at once (package
// scaffold): in this checkout under examples/drivers, in a driver repository under drivers, or as
// a new repository whose go.mod requires the engine's release and replaces it with the engine
// source the binary was built from. That source is what the Makefile records with -ldflags
// (main.builtFrom), else what the binary's own file paths or build info say (version.go).
// `engine version` prints the release (package version) and that source.
//
// This is the composition root: the only place that constructs concrete types from other
// packages and wires them together.
package main
