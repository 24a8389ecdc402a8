package enginetest

import (
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	n := 0
	if err := Within(t, 5*time.Second, "three polls", func() bool { n++; return n == 3 }); err != nil {
		t.Fatalf("a condition that holds: %v", err)
	}
	err := Within(t, 20*time.Millisecond, "never", func() bool { return false })
	if err == nil || err.Error() != "timed out after 20ms waiting for never" {
		t.Fatalf("a condition that never holds: %v", err)
	}
	if t.Failed() {
		t.Fatal("Within failed the test")
	}
}

func TestJSONEqual(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{`{"a": 1, "b": [true]}`, `{"b":[true],"a":1}`, true},
		{`{"a": 1}`, `{"a": 2}`, false},
		{`[1`, `[1]`, false},
	} {
		if got := JSONEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("JSONEqual(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}
