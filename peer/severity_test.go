package peer

import "testing"

// TestSeverities: the debugger frames number severities as Crystal's Log::Severity, both ways.
func TestSeverities(t *testing.T) {
	t.Parallel()
	names := []string{"trace", "debug", "info", "notice", "warn", "error", "fatal"}
	for n, name := range names {
		if got := severityNumber(name); got != n {
			t.Errorf("severityNumber(%q) = %d, want %d", name, got, n)
		}
		if got := severityName(n); got != name {
			t.Errorf("severityName(%d) = %q, want %q", n, got, name)
		}
	}
	for level, want := range map[string]int{
		"warning": 4, "WARNING": 4, "Warn": 4, "ERROR": 5, "Fatal": 6,
		"": 2, "verbose": 2, "critical": 2, " warn": 2,
	} {
		if got := severityNumber(level); got != want {
			t.Errorf("severityNumber(%q) = %d, want %d", level, got, want)
		}
	}
	for _, n := range []int{-1, 7, 100} {
		if got := severityName(n); got != "info" {
			t.Errorf("severityName(%d) = %q, want info", n, got)
		}
	}
}
