package core

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestWithNotesShared: without notes, every module of a driver gets one shared slice, equal to
// what adding no notes encodes; with notes each gets its own; a metadata that is not an object
// is still refused.
func TestWithNotesShared(t *testing.T) {
	meta := []byte(`{"interface": {"echo": {}}, "notes": "old"}`)
	a, err := withNotes(meta, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := withNotes([]byte(`{"interface": {"echo": {}}, "notes": "old"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := addNotes(meta, "")
	if string(a) != string(want) || string(a) != `{"interface":{"echo":{}}}` {
		t.Fatalf("without notes: %s, want %s", a, want)
	}
	if &a[0] != &b[0] {
		t.Error("two modules of one driver hold two copies")
	}
	n, err := withNotes(meta, "lobby")
	if err != nil || string(n) != `{"interface":{"echo":{}},"notes":"lobby"}` {
		t.Fatalf("with notes: %s, %v", n, err)
	}
	if _, err := withNotes([]byte(`[1]`), ""); err == nil {
		t.Fatal("an array was taken for metadata")
	}
	for i := range metaMemoMax + 5 {
		if _, err := withNotes(fmt.Appendf(nil, `{"v":%d}`, i), ""); err != nil {
			t.Fatal(err)
		}
	}
	plainMeta.mu.Lock()
	held := len(plainMeta.entries)
	plainMeta.mu.Unlock()
	if held > metaMemoMax {
		t.Fatalf("memo holds %d texts, bound %d", held, metaMemoMax)
	}
}

// TestFunctionCacheShared: modules with the same metadata text share one parse, a changed text
// is parsed again, and more modules than the old bound (4096) stay cached.
func TestFunctionCacheShared(t *testing.T) {
	var c functionCache
	raw := json.RawMessage(`{"interface":{"echo":{"value":{"title":"any"}}}}`)
	first, err := c.get("mod-0", raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 10000; i++ {
		fs, err := c.get(fmt.Sprintf("mod-%d", i), json.RawMessage(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if fs != first {
			t.Fatalf("mod-%d parsed its own copy", i)
		}
	}
	if len(c.entries) != 10000 {
		t.Fatalf("%d modules cached, want 10000", len(c.entries))
	}
	other, err := c.get("mod-0", json.RawMessage(`{"interface":{"ping":{}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if other == first || len(other.order) != 1 || other.order[0] != "ping" {
		t.Fatalf("changed metadata: %+v", other)
	}
	if _, err := c.get("mod-1", json.RawMessage(`not json`)); err == nil {
		t.Fatal("bad metadata parsed")
	}
}
