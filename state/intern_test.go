package state

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestInterner: equal texts come back as one shared copy, never as the caller's slice; the table
// empties itself at its bounds and a text too large for it gets a copy of its own.
func TestInterner(t *testing.T) {
	var in interner
	a := []byte(`{"interface":{}}`)
	first := in.intern(a)
	if !bytes.Equal(first, a) || &first[0] == &a[0] {
		t.Fatalf("intern returned %q (the caller's slice: %v)", first, &first[0] == &a[0])
	}
	a[0] = 'X' // the caller may reuse its slice
	if again := in.intern([]byte(`{"interface":{}}`)); &again[0] != &first[0] || string(again) != `{"interface":{}}` {
		t.Fatalf("equal text: %q, shared %v", again, &again[0] == &first[0])
	}
	if in.intern(nil) != nil {
		t.Fatal("nil is not nil")
	}
	if e := in.intern([]byte{}); e == nil || len(e) != 0 {
		t.Fatalf("empty: %v", e)
	}
	for i := range internMaxTexts + 10 {
		in.intern(fmt.Appendf(nil, `{"n":%d}`, i))
	}
	if len(in.texts) > internMaxTexts {
		t.Fatalf("%d texts held, bound %d", len(in.texts), internMaxTexts)
	}
	big := bytes.Repeat([]byte("x"), internMaxBytes/2)
	if b1, b2 := in.intern(big), in.intern(big); &b1[0] == &b2[0] || !bytes.Equal(b1, big) {
		t.Fatal("a text above the bound is kept in the table")
	}
	if in.bytes > internMaxBytes {
		t.Fatalf("%d bytes held, bound %d", in.bytes, internMaxBytes)
	}
}

// TestMetadataHeldOnce: the hosted modules of one driver share one copy of their metadata, and
// so do modules whose metadata is read from Redis; each still reads its own value.
func TestMetadataHeldOnce(t *testing.T) {
	r := testutil.StartRedis(t)
	s, _ := newStore(t, r)
	ctx := ctxT(t)
	meta := []byte(`{"interface":{"echo":{}}}`)
	for _, id := range []string{"mod-1", "mod-2"} {
		s.Host(id)
		if err := s.SetMetadata(ctx, id, meta); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMetadata(ctx, "mod-3", []byte(`{"interface":{"echo":{}}}`)); err != nil { // not hosted: read back from Redis
		t.Fatal(err)
	}
	if err := s.SetMetadata(ctx, "mod-4", []byte(`{"interface":{}}`)); err != nil {
		t.Fatal(err)
	}
	meta[2] = 'X' // the caller's slice is not kept
	got := map[string][]byte{}
	for _, id := range []string{"mod-1", "mod-2", "mod-3", "mod-4"} {
		md, err := s.Metadata(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got[id] = md
	}
	for _, id := range []string{"mod-1", "mod-2", "mod-3"} {
		if string(got[id]) != `{"interface":{"echo":{}}}` {
			t.Fatalf("%s: %s", id, got[id])
		}
		if &got[id][0] != &got["mod-1"][0] {
			t.Errorf("%s holds a copy of its own", id)
		}
	}
	if string(got["mod-4"]) != `{"interface":{}}` {
		t.Fatalf("mod-4: %s", got["mod-4"])
	}
}
