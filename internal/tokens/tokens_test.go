package tokens

import (
	"testing"
	"time"
)

// TestBucket: a full bucket gives its burst at once, then one token per 1/rate; Wait says when
// the next comes; time going backwards gives nothing; a rate <= 0 never limits.
func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := New(10, 3, t0)
	for i := range 3 {
		if !b.Take(t0) {
			t.Fatalf("token %d of a burst of 3 refused", i+1)
		}
	}
	if b.Take(t0) {
		t.Fatal("a fourth token at once")
	}
	if w := b.Wait(t0); w != 100*time.Millisecond {
		t.Fatalf("Wait = %v, want 100ms at 10/s", w)
	}
	if b.Take(t0.Add(-time.Second)) {
		t.Fatal("a token from time going backwards")
	}
	if !b.Take(t0.Add(100*time.Millisecond)) || b.Take(t0.Add(100*time.Millisecond)) {
		t.Fatal("want exactly one token after 100ms at 10/s")
	}
	if w := b.Wait(t0.Add(150 * time.Millisecond)); w != 50*time.Millisecond {
		t.Fatalf("Wait half-way = %v, want 50ms", w)
	}
	// An idle bucket fills up to its burst, no more.
	later := t0.Add(time.Hour)
	n := 0
	for b.Take(later) {
		n++
	}
	if n != 3 {
		t.Fatalf("after an hour idle: %d tokens, want the burst of 3", n)
	}
	for _, free := range []Bucket{{}, New(0, 1, t0), New(-1, 0, t0)} {
		for range 1000 {
			if !free.Take(t0) {
				t.Fatalf("%+v limited", free)
			}
		}
		if w := free.Wait(t0); w != 0 {
			t.Fatalf("%+v: Wait %v", free, w)
		}
	}
}
