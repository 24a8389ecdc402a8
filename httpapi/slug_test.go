package httpapi

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		slug    string
		name    string
		index   int
		wantErr bool
	}{
		{"Display_1", "Display", 1, false},
		{"Display_2", "Display", 2, false},
		{"Display", "Display", 1, false},
		{"Main_Display", "Main_Display", 1, false},
		{"Main_Display_3", "Main_Display", 3, false},
		{"Display_01", "Display", 1, false},
		{"Display_", "Display_", 1, false},
		{"Display_x1", "Display_x1", 1, false},
		{"_Hidden", "_Hidden", 1, false},
		{"_Hidden_2", "_Hidden", 2, false},
		{"Display_+2", "Display", 2, false},
		{"Display_0", "", 0, true},
		{"Display_-1", "", 0, true},
		{"Display_99999999999999999999", "", 0, true},
		{"_1", "", 0, true},
		{"", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			t.Parallel()
			name, index, err := ParseSlug(tt.slug)
			if tt.wantErr {
				if !errors.Is(err, ErrBadSlug) {
					t.Fatalf("ParseSlug(%q) error = %v, want ErrBadSlug", tt.slug, err)
				}
				return
			}
			if err != nil || name != tt.name || index != tt.index {
				t.Fatalf("ParseSlug(%q) = (%q, %d, %v), want (%q, %d)", tt.slug, name, index, err, tt.name, tt.index)
			}
		})
	}
}

func FuzzParseSlug(f *testing.F) {
	for _, s := range []string{"Display_1", "Main_Display", "Display_0", "_1", "", "a_b_3", "x_-0", "Ü_2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, slug string) {
		name, index, err := ParseSlug(slug)
		if err != nil {
			if !errors.Is(err, ErrBadSlug) {
				t.Fatalf("error %v is not ErrBadSlug", err)
			}
			return
		}
		if name == "" || index < 1 {
			t.Fatalf("ParseSlug(%q) = (%q, %d)", slug, name, index)
		}
		// Either the slug is the whole name, or it is name + "_" + a suffix that reads as index.
		if name == slug {
			if index != 1 {
				t.Fatalf("whole-slug name with index %d", index)
			}
			return
		}
		suffix, ok := strings.CutPrefix(slug, name+"_")
		if !ok {
			t.Fatalf("ParseSlug(%q): name %q is not a prefix", slug, name)
		}
		if n, err := strconv.Atoi(suffix); err != nil || n != index {
			t.Fatalf("ParseSlug(%q): suffix %q does not read as %d", slug, suffix, index)
		}
	})
}
