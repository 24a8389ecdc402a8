package calltab

import (
	"errors"
	"testing"
)

func TestTable(t *testing.T) {
	var tab Table[string]
	a, b := make(chan string, 1), make(chan string, 1)
	ida, err := tab.Add(a)
	if err != nil {
		t.Fatal(err)
	}
	idb, _ := tab.Add(b)
	if ida == idb {
		t.Fatalf("two calls got id %d", ida)
	}
	if !tab.Has(ida) || tab.Has(999) {
		t.Fatal("Has: a waiting call not found, or an id never given found")
	}
	if ch := tab.Take(ida); ch != a {
		t.Fatal("Take did not return the call's channel")
	}
	if tab.Take(ida) != nil || tab.Take(999) != nil {
		t.Fatal("an answer taken twice, or one for an id never given, found a call")
	}
	if tab.Remove(ida) || tab.Has(ida) {
		t.Fatal("Remove of a taken call reported it waiting, or Has still finds it")
	}
	if w, made := tab.Counts(); w != 1 || made != 2 {
		t.Fatalf("counts %d waiting, %d made; want 1, 2", w, made)
	}
	if _, ok := tab.End(errors.New("x"), true); ok {
		t.Fatal("End(onlyIdle) ended a table with a call waiting")
	}
	cause := errors.New("connection lost")
	waiting, ok := tab.End(cause, false)
	if !ok || len(waiting) != 1 || waiting[idb] != b {
		t.Fatalf("End returned %v %v, want the call still waiting", waiting, ok)
	}
	if _, ok := tab.End(cause, false); ok {
		t.Fatal("a table ended twice")
	}
	if _, err := tab.Add(make(chan string, 1)); !errors.Is(err, cause) {
		t.Fatalf("Add after the end: %v, want the cause", err)
	}
	if tab.Remove(idb) {
		t.Fatal("a call of an ended table still waiting")
	}
}
