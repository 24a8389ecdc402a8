package model

import (
	"slices"
	"strings"
	"testing"
)

// BenchmarkScrub: a driver's long log line (64 KiB) holding no secret, and one holding a secret
// once, against the forms of three protected values — the cost every log and debug line of a
// module with protected values pays.
func BenchmarkScrub(b *testing.B) {
	var secrets []string
	for _, v := range []string{"Proj3ctor!", "482913", `Kx9/Tq+7 z&W!`} {
		secrets = appendForms(secrets, v)
	}
	slices.SortFunc(secrets, longestFirst)
	line := strings.Repeat("device said: POWER=ON input=HDMI1 volume 42; ", 64<<10/46)
	for name, text := range map[string]string{"clean": line, "quoting": line + "login refused for Proj3ctor!"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				_ = Scrub(text, secrets)
			}
		})
	}
}
