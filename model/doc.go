// Package model owns the desired state of the engine: repositories, drivers, modules, systems and
// zones (docs/protocol.md §2), their validation, the model file format, and the views derived from
// them — module names in a system (Display_1, Display_2) and the merged settings a module
// receives.
//
// A write's ids and names are bounded (bounds.go: call.MaxIdentifierBytes) by the node that accepts
// it, before it is proposed; never on replay, so a model an older engine wrote still loads.
//
// A Model value is immutable once published by a store: readers share it without locks, writers
// build a new one (Clone, change, publish). Memory is the in-process store used by a single node
// and by tests; the Raft FSM (package raftfsm) is the clustered store. Both satisfy core's store interface.
//
// Protected settings (levels support, admin, never_displayed) are kept sealed: a store holds
// only values that Keyring encrypted (AES-256-GCM, bound to their entity, level and key), so
// neither the Raft log nor a snapshot holds one in clear. File.Seal runs on the node that accepts
// a write, before it is proposed; MergedSettings opens them for a module's start payload; and
// Model.Redacted is the one view every management read returns — values the caller's clearance
// reaches opened, the others (never_displayed always) replaced by RedactedValue, repository
// credentials hidden below admin (RedactURI, which the builder uses for its logs and statuses).
//
// A driver's save of a key protected for its module (SaveLevel) is not WithSetting's plain write
// but ProtectedSave's: a write of the module with the value at that level, sealed by the store's
// Apply like a management write, so that the Raft log carries only commands every version
// applies alike. WithSetting itself stays as it was: it is what every node applies for a
// save_setting command, old log entries included.
package model
