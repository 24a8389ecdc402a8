package model

import "encoding/json"

// MarshalJSON writes a system without modules as "modules": [] rather than null: PlaceOS
// front-ends read the field as an array (a system created with only a name has none yet).
func (s System) MarshalJSON() ([]byte, error) {
	type plain System // without this method
	p := plain(s)
	if p.Modules == nil {
		p.Modules = []string{}
	}
	return json.Marshal(p)
}
