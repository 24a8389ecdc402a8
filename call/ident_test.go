package call

import (
	"errors"
	"strings"
	"testing"

	"github.com/placeos-go/engine/errkind"
)

// TestCheckIdentifier: at most MaxIdentifierBytes bytes of UTF-8 pass without an allocation
// (every execute checks its identifiers); longer, or not UTF-8, is a bad request naming the
// identifier and its length, never the value.
func TestCheckIdentifier(t *testing.T) {
	// Not parallel: AllocsPerRun refuses to run beside other tests.
	at := strings.Repeat("é", MaxIdentifierBytes/2) + "x"
	if err := CheckIdentifier("the function name", at); err != nil {
		t.Fatalf("%d bytes: %v", len(at), err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = CheckIdentifier("the function name", at) }); n != 0 {
		t.Fatalf("a passing check allocates %v times", n)
	}
	for v, want := range map[string]string{
		at + "x":    "the function name is 256 bytes long; an identifier may have at most 255 bytes",
		"pow\xffer": "the function name is not valid UTF-8",
	} {
		err := CheckIdentifier("the function name", v)
		if !errors.Is(err, ErrBadIdentifier) || !errors.Is(err, errkind.BadRequest) || err.Error() != want {
			t.Errorf("%q: %v, want a bad request %q", v[:4], err, want)
		}
	}
}
