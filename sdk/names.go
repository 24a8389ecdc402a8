package sdk

import (
	"strings"
	"unicode"
)

// snakeCase converts a Go identifier to its wire name: SwitchTo -> switch_to, HDMIInput ->
// hdmi_input, Volume2 -> volume2.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				// Break before an upper-case letter that starts a word: after a lower-case
				// letter or digit, or at the end of an acronym ("HDMIInput" -> "hdmi_input").
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
