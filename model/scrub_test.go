package model

import (
	"slices"
	"strings"
	"testing"
)

// TestScrubEncodedAndCaseChangedForms: a protected value is hidden as Go's HTTP client quotes it
// in a URL (query-escaped, path-escaped, the escapes in either case) and as a device protocol
// upper- or lower-cases it.
func TestScrubEncodedAndCaseChangedForms(t *testing.T) {
	t.Parallel()
	var secrets []string
	for _, v := range []string{`Kx9/Tq+7 z&W!`, "Proj3ctor!", "482913"} {
		secrets = appendForms(secrets, v)
	}
	slices.SortFunc(secrets, longestFirst)
	for text, want := range map[string]string{
		`Get "http://10.0.0.5/status?key=Kx9%2FTq%2B7+z%26W%21": connection refused`: `Get "http://10.0.0.5/status?key=[redacted]": connection refused`,
		`Get "http://10.0.0.5/status?key=kx9%2ftq%2b7+z%26w%21": connection refused`: `Get "http://10.0.0.5/status?key=[redacted]": connection refused`,
		`Get "http://10.0.0.5/keys/Kx9%2FTq+7%20z&W%21/state": EOF`:                  `Get "http://10.0.0.5/keys/[redacted]/state": EOF`,
		`sent LOGIN PROJ3CTOR! got ERR`:                                              `sent LOGIN [redacted] got ERR`,
		`{"password":"proj3ctor!","PIN":482913}`:                                     `{"password":"[redacted]","PIN":[redacted]}`,
		`W482913*9LOCK refused; W482913*8LOCK refused`:                               `W[redacted]*9LOCK refused; W[redacted]*8LOCK refused`,
		`Proj3ctor (no bang), 48291 (one short)`:                                     `Proj3ctor (no bang), 48291 (one short)`,
	} {
		if got := Scrub(text, secrets); got != want {
			t.Errorf("Scrub(%s)\n = %s\nwant %s", text, got, want)
		}
	}
	if got := appendForms(nil, "plain-Value_1.2~"); !slices.Equal(got, []string{"plain-Value_1.2~"}) {
		t.Errorf("forms of a value nothing escapes: %q", got)
	}
}

// TestIndexFold: the ASCII case-insensitive search finds the first instance, also when the first
// letter of what it seeks is frequent in one case and absent in the other, and nothing past the
// end; Scrub of a text holding no secret allocates nothing (not parallel: it counts allocations).
func TestIndexFold(t *testing.T) {
	long := strings.Repeat("a", 1000) + "AbC"
	for _, c := range []struct {
		s, sub string
		want   int
	}{
		{"", "", 0}, {"abc", "", 0}, {"", "a", -1}, {"ab", "abc", -1},
		{"xxABCxxabc", "abc", 2}, {"xxabcxxABC", "ABC", 2}, {"12-34", "2-3", 1},
		{long, "abc", 1000}, {long, "ABD", -1}, {"aab", "AB", 1}, {"[x]", "X]", 1},
		{"ä€Ä", "Ä", 5}, // beyond ASCII only the same bytes match
	} {
		if got := indexFold(c.s, c.sub); got != c.want {
			t.Errorf("indexFold(%q, %q) = %d, want %d", c.s, c.sub, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Scrub(long, []string{"abcd", "zzzz"}) }); n != 0 {
		t.Errorf("Scrub of a text holding no secret allocates %v times", n)
	}
}
