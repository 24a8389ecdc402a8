// Command engine is the single binary of the engine: `engine serve` runs a node, `engine dev`
// runs a one-command demo (embedded Redis, the example drivers, simulated displays).
//
// This is the composition root: the only place that constructs concrete types from other
// packages and wires them together.
package main
