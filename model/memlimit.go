package model

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MinMemoryLimit is the smallest driver memory limit accepted: the limit counts the address
// space a process reserves for data (RLIMIT_DATA), and a Go driver reserves about 100 MiB
// (thread stacks, heap metadata) before it uses any.
const MinMemoryLimit = 128 << 20

// ParseMemoryLimit reads a driver memory limit as people write it: a size (ParseSize) or
// 0/off/none for no limit (returned as 0). "" is no setting (0 too); the caller applies its
// default.
func ParseMemoryLimit(s string) (int64, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "off", "none":
		return 0, nil
	}
	n, err := ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("%w, or off", err)
	}
	if n < MinMemoryLimit {
		return 0, fmt.Errorf("%q is below the smallest limit, 128MiB: a Go driver reserves about 100MiB before it allocates anything (use off for no limit)", s)
	}
	return n, nil
}

// ParseSize reads a size in bytes as people write it, the one form of every size the engine
// takes: a binary unit in any case (512MiB, 512M, 1gib, 1536KiB; K, M, G, T), a decimal one
// (512MB = 512,000,000 bytes, 1GB), or plain bytes.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	mult, ok := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
		"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[strings.ToLower(unit)]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || f*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("want a size such as 512MiB, 1GiB or 512MB, not %q", s)
	}
	return int64(f * mult), nil
}
