package metadata

import (
	"encoding/json"
	"testing"
)

func TestOrderedKeepsDocumentOrder(t *testing.T) {
	var o Ordered[json.RawMessage]
	if err := json.Unmarshal([]byte(`{"zeta": 1, "alpha": {"b": 2, "a": 1}, "mid": null}`), &o); err != nil {
		t.Fatal(err)
	}
	if got := o.Keys(); len(got) != 3 || got[0] != "zeta" || got[1] != "alpha" || got[2] != "mid" {
		t.Fatalf("keys %v", got)
	}
	out, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"zeta":1,"alpha":{"b":2,"a":1},"mid":null}` {
		t.Fatalf("round trip %s", out)
	}
	o.Set("zeta", json.RawMessage("3"))
	o.Set("new", json.RawMessage("4"))
	if got := o.Keys(); got[0] != "zeta" || got[3] != "new" {
		t.Fatalf("Set reordered keys: %v", got)
	}
}

func TestOrderedRefusesNonObjects(t *testing.T) {
	for _, in := range []string{`[1]`, `"x"`, `{"a":`, `{"a":1}}`} {
		var o Ordered[int]
		if err := json.Unmarshal([]byte(in), &o); err == nil {
			t.Errorf("%s: want an error", in)
		}
	}
	var o Ordered[int]
	if err := json.Unmarshal([]byte(`null`), &o); err != nil || o.Len() != 0 {
		t.Fatalf("null: %v, %d keys", err, o.Len())
	}
}
