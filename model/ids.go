package model

import (
	"crypto/rand"
	"fmt"
)

// idPrefixes are PlaceOS's id prefixes (its table names), so that a front-end that tells an
// entity's kind by its id keeps working.
var idPrefixes = map[Kind]string{
	KindRepository: "repo-",
	KindDriver:     "driver-",
	KindModule:     "mod-",
	KindSystem:     "sys-",
	KindZone:       "zone-",
}

// idAlphabet is base62: URL-safe, and safe in Redis keys and file names (idPattern).
const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// idLength random characters give 62^10 ≈ 8·10^17 ids per kind: a collision is not a concern,
// and a create still refuses an id that exists.
const idLength = 10

// NewID returns a random id of kind in PlaceOS's shape, e.g. "sys-4fZq81LkQ2". It is chosen by the
// node that accepts the create, before the write is proposed, so that applying the write stays
// deterministic on every node.
func NewID(kind Kind) (string, error) {
	prefix, ok := idPrefixes[kind]
	if !ok {
		return "", fmt.Errorf("%w: no id prefix for kind %q", ErrInvalid, kind)
	}
	// Rejection sampling keeps every character equally likely (256 is not a multiple of 62).
	const limit = 256 - 256%len(idAlphabet)
	out := make([]byte, 0, len(prefix)+idLength)
	out = append(out, prefix...)
	buf := make([]byte, 2*idLength)
	for len(out) < len(prefix)+idLength {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("random id: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < len(prefix)+idLength {
				out = append(out, idAlphabet[int(b)%len(idAlphabet)])
			}
		}
	}
	return string(out), nil
}
