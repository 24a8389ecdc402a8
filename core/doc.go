// Package core is the reconciler: it watches the desired model and makes this node true to it.
//
// For every module marked running (and, once the cluster exists, owned by this node) it starts the
// module in its driver's process with merged settings, sends settings and connection changes as
// updates, stops modules that should no longer run, writes each module's metadata to Redis, and
// builds the `system/<id>` lookup hashes. It then reports the node ready.
//
// core also serves the two faces of a running engine: the engine as clients see it (resolve a
// module, execute, read status; consumed by httpapi) and the host callback service drivers call
// (status, logs, calls to other modules, subscriptions, settings). It never speaks HTTP and never
// touches Redis or driver processes directly: it goes through the small interfaces in deps.go.
package core
