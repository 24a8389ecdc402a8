package metadata

import (
	"encoding/json"
	"reflect"
	"testing"
)

// doc is metadata as a driver sends it: every field set, keys out of alphabetical order.
const doc = `{"interface":{"volume":{"level":{"type":"integer","title":"int","minimum":0,"maximum":100,"default":50}},"power":{"state":{"type":["boolean","null"],"title":"*bool"}}},` +
	`"functions":{"volume":{"level":["int",50]},"power":{"state":["*bool"]}},"implements":["VolumeControl"],"requirements":{"Display":["Powerable"]},` +
	`"security":{"support":["volume"]},"json_schema":{"type":"object","title":"Settings","properties":{"zone":{"type":"string","title":"string"}}},` +
	`"notes":"n","versions":{"driver":"1.0","sdk":"0.1.0"}}`

// The host decodes what the driver encoded; re-encoding must give the same bytes, which golden
// files and the order of positional arguments rely on.
func TestMetadataRoundTrip(t *testing.T) {
	var m Metadata
	if err := json.Unmarshal([]byte(doc), &m); err != nil {
		t.Fatal(err)
	}
	if got := m.Functions.Keys(); !reflect.DeepEqual(got, []string{"volume", "power"}) {
		t.Fatalf("functions %v", got)
	}
	params, _ := m.Functions.Get("volume")
	if sig, _ := params.Get("level"); sig.Title != "int" || string(sig.Default) != "50" {
		t.Fatalf("volume level %+v", sig)
	}
	params, _ = m.Functions.Get("power")
	if sig, _ := params.Get("state"); sig.Default != nil {
		t.Fatalf("a required parameter has default %s", sig.Default)
	}
	if s, _ := m.Security.Get(LevelSupport); !reflect.DeepEqual(s, []string{"volume"}) {
		t.Fatalf("security %v", s)
	}
	out, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != doc {
		t.Fatalf("round trip:\n%s\nwant\n%s", out, doc)
	}
}

func TestSignatureRefusesOtherShapes(t *testing.T) {
	for _, in := range []string{`[]`, `["int", 1, 2]`, `"int"`, `[1]`} {
		var s Signature
		if err := json.Unmarshal([]byte(in), &s); err == nil {
			t.Errorf("%s: want an error", in)
		}
	}
}
