package model

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestNewID: every kind gets PlaceOS's prefix, ten base62 characters, an id Validate accepts,
// and no two ids alike.
func TestNewID(t *testing.T) {
	want := map[Kind]string{KindRepository: "repo-", KindDriver: "driver-", KindModule: "mod-", KindSystem: "sys-", KindZone: "zone-"}
	seen := map[string]bool{}
	for _, k := range Kinds {
		for range 200 {
			id, err := NewID(k)
			if err != nil {
				t.Fatal(err)
			}
			rest, ok := strings.CutPrefix(id, want[k])
			if !ok || len(rest) != idLength || strings.Trim(rest, idAlphabet) != "" {
				t.Fatalf("%s: id %q", k, id)
			}
			if !idPattern.MatchString(id) {
				t.Fatalf("%s: id %q does not pass validation", k, id)
			}
			if seen[id] {
				t.Fatalf("%s: id %q twice", k, id)
			}
			seen[id] = true
		}
	}
	if _, err := NewID(Kind("widgets")); err == nil {
		t.Fatal("an unknown kind got an id")
	}
}

// TestSystemWithoutModulesIsAnArray: PlaceOS front-ends read a system's modules as an array.
func TestSystemWithoutModulesIsAnArray(t *testing.T) {
	for _, v := range []any{System{ID: "sys-1", Name: "Lobby"}, &System{ID: "sys-1", Name: "Lobby"}} {
		out, err := json.Marshal(v)
		if err != nil || string(out) != `{"id":"sys-1","name":"Lobby","modules":[]}` {
			t.Fatalf("%s, %v", out, err)
		}
	}
}
