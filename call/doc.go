// Package call is the vocabulary of a function call on a module, shared by everything that makes
// one: the REST and WebSocket front door, the node-to-node routes, and drivers calling each other
// (all of which go through the engine core's single Execute). It holds types only, so the front
// doors can speak to the core without depending on it.
package call
