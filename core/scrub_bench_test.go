package core

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/placeos-go/engine/model"
)

// BenchmarkHideQuoting: what a failed call of a module with protected values costs the node when
// its caller sends as much as a body may hold (8 MiB): a million 6-digit candidates that the
// driver's error does not quote, so every one is looked for: a million 6-digit PINs (plain: one
// form each), numbers, and a million words JSON and URLs escape (each form made and sought).
func BenchmarkHideQuoting(b *testing.B) {
	secrets := model.AppendForms(nil, "Proj3ctor!")
	texts := []string{`controller answered E13 to "W*9LOCK": invalid door`, "gate.go:229", "main"}
	for name, format := range map[string]string{"pins": `"%06d"`, "numbers": `%d.5e3`, "escaped": `"%d&"`} {
		var sb strings.Builder
		sb.WriteString(`["9", [`)
		for i := range 1_000_000 {
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, format, i)
		}
		sb.WriteString(`]]`)
		args := json.RawMessage(sb.String())
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(args)))
			for b.Loop() {
				_ = hideQuoting(secrets, args)(texts)
			}
		})
	}
}
