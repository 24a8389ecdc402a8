package placement

import (
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want string
	}{
		{"", ""},
		{"  ", ""},
		{"site=hq", "site=hq"},
		{"site=hq,floor=3", "floor=3,site=hq"},
		{"site=hq, floor=3", "floor=3,site=hq"},
		{" site = hq ,floor= 3 ", "floor=3,site=hq"},
		{"rack.id=r-1_a", "rack.id=r-1_a"},
	}
	for _, tt := range good {
		got, err := ParseLabels(tt.in)
		if err != nil {
			t.Fatalf("ParseLabels(%q): %v", tt.in, err)
		}
		if got.String() != tt.want {
			t.Fatalf("ParseLabels(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	bad := []struct{ in, says string }{
		{"site", `"site" has no '='`},
		{"=hq", "empty key"},
		{"site=", `label "site" has an empty value`},
		{"site=hq,site=b", `key "site" is given twice`},
		{"site=hq,,floor=3", "empty entry between commas"},
		{"site=hq,", "empty entry between commas"},
		{"si te=hq", `label key "si te"`},
		{"site=h/q", `site="h/q"`},
		{"-site=hq", `label key "-site"`},
		{"site=" + strings.Repeat("x", 64), "at most 63 characters"},
	}
	for _, tt := range bad {
		_, err := ParseLabels(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Fatalf("ParseLabels(%q): error %v, want one saying %q", tt.in, err, tt.says)
		}
	}
}

func TestLabelsCheckAndAllows(t *testing.T) {
	t.Parallel()
	if err := (Labels{"site": "hq", "floor": "3"}).Check(); err != nil {
		t.Fatal(err)
	}
	for _, l := range []Labels{{"": "x"}, {"site": ""}, {"site": "a b"}, {"$x": "1"}} {
		if err := l.Check(); err == nil {
			t.Fatalf("%v passed Check", map[string]string(l))
		}
	}
	node := Labels{"site": "hq", "floor": "3"}
	for _, tt := range []struct {
		c    Labels
		want bool
	}{
		{nil, true},
		{Labels{"site": "hq"}, true},
		{Labels{"site": "hq", "floor": "3"}, true},
		{Labels{"site": "b"}, false},
		{Labels{"site": "hq", "floor": "4"}, false},
		{Labels{"zone": "x"}, false},
	} {
		if got := tt.c.Allows(node); got != tt.want {
			t.Fatalf("%v allows %v: %v, want %v", tt.c, node, got, tt.want)
		}
	}
}
