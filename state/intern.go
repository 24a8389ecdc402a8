package state

import (
	"bytes"
	"sync"
)

// Module metadata is the same text for every module of one driver (notes aside), about 1–2 KiB:
// held once per module it was 15 MiB of a node's heap with 10,000 modules. The store keeps each
// distinct text once and hands out the shared slice (Metadata's answer was shared already: its
// callers do not modify it).

const (
	// internMaxTexts and internMaxBytes bound the table. When a new text would pass either, the
	// table is emptied and starts again: slices handed out stay valid (their holders keep them),
	// later equal texts just get a new canonical copy. A model where most modules have notes of
	// their own churns the table; that costs what a copy per module cost before.
	internMaxTexts = 256
	internMaxBytes = 4 << 20
)

// interner hands out one shared copy of equal byte texts.
type interner struct {
	mu    sync.Mutex
	texts map[string][]byte
	bytes int
}

// intern returns a slice equal to b that callers must not modify: the shared copy of b's text,
// made now if it is new. b itself is not kept. A nil b stays nil.
func (in *interner) intern(b []byte) []byte {
	if b == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if t, ok := in.texts[string(b)]; ok {
		return t
	}
	if len(b) > internMaxBytes/4 {
		return bytes.Clone(b) // too large to keep in the table: a copy of its own, as before
	}
	if in.texts == nil || len(in.texts) >= internMaxTexts || in.bytes+len(b) > internMaxBytes {
		in.texts, in.bytes = map[string][]byte{}, 0
	}
	t := bytes.Clone(b)
	in.texts[string(t)] = t
	in.bytes += len(b)
	return t
}
