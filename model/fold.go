package model

import "strings"

// Protected values are matched ignoring the case of ASCII letters: device protocols upper-case
// their commands ("W731946*9LOCK" from a setting "w731946"), hex dumps come in either case, and
// percent-escapes are written %2f as well as %2F. Letters beyond ASCII are matched as they are
// (their case forms may differ in length). The search allocates nothing: it runs on every log
// and debug line of a module with protected values.

// indexFold is the index of the first instance of sub in s ignoring ASCII case, or -1.
func indexFold(s, sub string) int {
	n := len(sub)
	if n == 0 {
		return 0
	}
	last := len(s) - n // the last place sub can start
	lo, up := lower(sub[0]), upper(sub[0])
	// The next lo and up at or after i (last+1 when none), each found once: one of them may be
	// rare in s and the other frequent.
	nextLo, nextUp := -1, -1
	for i := 0; i <= last; i++ {
		if nextLo < i {
			nextLo = indexByteFrom(s, i, last, lo)
		}
		if lo == up {
			nextUp = nextLo
		} else if nextUp < i {
			nextUp = indexByteFrom(s, i, last, up)
		}
		i = min(nextLo, nextUp)
		if i > last {
			return -1
		}
		if equalFold(s[i:i+n], sub) {
			return i
		}
	}
	return -1
}

// indexByteFrom is the index of the first c in s[from:last+1], or last+1.
func indexByteFrom(s string, from, last int, c byte) int {
	if j := strings.IndexByte(s[from:last+1], c); j >= 0 {
		return from + j
	}
	return last + 1
}

// equalFold reports whether s and t, of the same length, are equal ignoring ASCII case.
func equalFold(s, t string) bool {
	for i := 0; i < len(s); i++ {
		if lower(s[i]) != lower(t[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// replaceFold is text with every instance of s, the first at i, replaced by RedactedValue.
func replaceFold(text, s string, i int) string {
	var b strings.Builder
	b.Grow(len(text))
	for i >= 0 {
		b.WriteString(text[:i])
		b.WriteString(RedactedValue)
		text = text[i+len(s):]
		i = indexFold(text, s)
	}
	b.WriteString(text)
	return b.String()
}
