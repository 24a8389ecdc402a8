package metadata

// SystemModule is one entry of the module_info a logic module gets with its control system
// (docs/protocol.md §2.6): a module of the system, as the system names it (Display_2 is Name
// "Display", Index 2), with what its metadata reports: the interfaces it implements and its
// functions' wire names, in declaration order. The engine writes it and the SDK reads it
// (sdk.SystemModule), so they share this one definition.
type SystemModule struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Index      int      `json:"index"`
	Implements []string `json:"implements,omitempty"`
	Functions  []string `json:"functions,omitempty"`
}
