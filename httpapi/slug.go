package httpapi

import (
	"errors"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/errkind"
)

// ParseSlug splits a module slug Name_N (docs/protocol.md §2) into its name and 1-based index. The split
// is at the last "_" when what follows parses as an integer; otherwise the whole slug is the name
// and the index is 1, so "Main_Display" is (Main_Display, 1).
//
// An integer suffix below 1 ("Display_0", "Display_-2") or beyond int range is rejected with
// ErrBadSlug rather than read as part of the name: a client that wrote it meant an index, and
// silently addressing a module called "Display_0" would hide the mistake.
func ParseSlug(slug string) (name string, index int, err error) {
	if slug == "" {
		return "", 0, errkind.Wrap(ErrBadSlug, nil, "empty module name")
	}
	name, index = slug, 1
	if i := strings.LastIndexByte(slug, '_'); i >= 0 {
		suffix := slug[i+1:]
		n, convErr := strconv.Atoi(suffix)
		switch {
		case convErr == nil && n >= 1:
			name, index = slug[:i], n
		case convErr == nil:
			return "", 0, errkind.Wrap(ErrBadSlug, nil, "module index in %q must be 1 or more", slug)
		case errors.Is(convErr, strconv.ErrRange): // a *strconv.NumError unwraps to its cause
			return "", 0, errkind.Wrap(ErrBadSlug, nil, "module index in %q is out of range", slug)
		}
	}
	if name == "" {
		return "", 0, errkind.Wrap(ErrBadSlug, nil, "module slug %q has an empty name", slug)
	}
	return name, index, nil
}
