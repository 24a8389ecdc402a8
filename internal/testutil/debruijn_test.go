package testutil

import (
	"fmt"
	"strings"
	"testing"
)

func TestDeBruijnDigits(t *testing.T) {
	t.Parallel()
	s := DeBruijnDigits(4)
	if len(s) != 10003 {
		t.Fatalf("%d digits, want 10003", len(s))
	}
	for i := range 10000 {
		if pin := fmt.Sprintf("%04d", i); !strings.Contains(s, pin) {
			t.Fatalf("%s is missing", pin)
		}
	}
}
