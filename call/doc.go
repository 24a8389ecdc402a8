// Package call is the vocabulary of a function call on a module, shared by everything that makes
// one: the REST and WebSocket front door, the node-to-node routes, and drivers calling each other
// (all of which go through the engine core's single Execute). It holds types and the one bound on
// identifiers (ident.go: what the core checks on every execute, the front doors before a
// subscription, the model on a write), so the front doors can speak to the core without depending
// on it.
package call
