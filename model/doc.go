// Package model owns the desired state of the engine: repositories, drivers, modules, systems and
// zones (docs/protocol.md §2), their validation, the model file format, and the views derived from
// them — module names in a system (Display_1, Display_2) and the merged settings a module
// receives.
//
// A Model value is immutable once published by a store: readers share it without locks, writers
// build a new one (Clone, change, publish). Memory is the in-process store used by a single node
// and by tests; the Raft FSM is the clustered store (issue 3). Both satisfy core's store interface.
package model
