package model

import "slices"

// SecretIndex finds which of many protected values a text may quote without searching it once
// per value: a node's values are what a driver's log line is scrubbed with when the module the
// line names cannot be trusted to say whose values it quotes, and a node may hold thousands of
// modules with protected values. Every value of MinSecretLen bytes or more is indexed by its
// first MinSecretLen bytes (ASCII letters lower-cased, as Scrub matches them); a text is read
// once, and only the values whose first bytes it holds are searched for (Scrub). Immutable once
// built; safe for concurrent use.
type SecretIndex struct {
	byPrefix map[[MinSecretLen]byte][]string
	short    []string // values shorter than MinSecretLen: searched for in every text
}

// NewSecretIndex indexes secrets (the forms Model.Secrets lists).
func NewSecretIndex(secrets []string) *SecretIndex {
	x := &SecretIndex{byPrefix: make(map[[MinSecretLen]byte][]string, len(secrets))}
	for _, s := range secrets {
		if len(s) < MinSecretLen {
			if s != "" && !slices.Contains(x.short, s) {
				x.short = append(x.short, s)
			}
			continue
		}
		k := foldPrefix(s)
		if !slices.Contains(x.byPrefix[k], s) {
			x.byPrefix[k] = append(x.byPrefix[k], s)
		}
	}
	return x
}

// Scrub is text with every indexed value it holds, and every one of also, hidden, as
// Scrub(text, secrets) would: the same values, matched alike, the longest first — in one pass,
// so that a value inside a longer one of the other list is not hidden first, leaving the
// longer one's ends in clear. Text that holds none is returned as it is, without allocating.
func (x *SecretIndex) Scrub(text string, also ...string) string {
	if x == nil {
		return Scrub(text, also)
	}
	found := also
	for i := 0; i+MinSecretLen <= len(text); i++ {
		for _, s := range x.byPrefix[foldPrefix(text[i:])] {
			if !slices.Contains(found, s) {
				found = append(slices.Clip(found), s)
			}
		}
	}
	if len(found) == 0 && len(x.short) == 0 {
		return text
	}
	return Scrub(text, append(slices.Clip(found), x.short...))
}

// foldPrefix is the first MinSecretLen bytes of s (at least that long), ASCII letters lower-cased.
func foldPrefix(s string) [MinSecretLen]byte {
	var k [MinSecretLen]byte
	for i := range k {
		k[i] = lower(s[i])
	}
	return k
}
