package state

import "strconv"

// Channels of docs/protocol.md §3, plus the engine's own metadata-invalidation channel.
const (
	// LookupChangeChannel carries a system id after its system/<id> hash changed.
	LookupChangeChannel = "lookup-change"
	// ReadyChannel carries "ready" once all live nodes are ready for the current membership.
	ReadyChannel = "engine/system"
	// ReadyMessage is the payload published on ReadyChannel.
	ReadyMessage = "ready"
	// InterfaceChangeChannel carries a module id after interface/<module> was written.
	// It is not part of PlaceOS; it exists so every node can drop its cached metadata.
	InterfaceChangeChannel = "engine/interface-change"
)

// StatusKey is the hash holding a module's status: field = status name, value = JSON text.
func StatusKey(moduleID string) string { return "status/" + moduleID }

// StatusChannel is where every change of one status value is published ("null" on delete).
func StatusChannel(moduleID, name string) string { return "status/" + moduleID + "/" + name }

// SystemKey is the hash mapping "Name/N" to module ids for one system.
func SystemKey(systemID string) string { return "system/" + systemID }

// InterfaceKey is the string holding a module's metadata JSON.
func InterfaceKey(moduleID string) string { return "interface/" + moduleID }

// LookupField is the system/<id> hash field for the index-th module called name (index < 1 means 1).
func LookupField(name string, index int) string {
	return string(appendLookupField(nil, name, index))
}

// appendLookupField appends LookupField(name, index) to b.
func appendLookupField(b []byte, name string, index int) []byte {
	if index < 1 {
		index = 1
	}
	return strconv.AppendInt(append(append(b, name...), '/'), int64(index), 10)
}

// ModuleErrorsKey is the engine's own hash of modules whose start failed: field = module id,
// value = JSON of a ModuleError. Not part of PlaceOS (whose database holds has_runtime_error);
// it lets every node answer a module read with the failure its owner saw.
const ModuleErrorsKey = "engine/module_errors"
