package main

import (
	"strings"
	"testing"
)

// TestAllowedOriginsFlag: --allowed-origins (and ENGINE_ALLOWED_ORIGINS) is read as the HTTP
// server reads it; a value that is not a list of scheme://host[:port] is refused at start-up,
// naming the flag.
func TestAllowedOriginsFlag(t *testing.T) {
	base := []string{"--auth", "none"}
	if _, err := parseOptions("serve", append(base, "--allowed-origins", "https://ui.example, http://10.0.0.5:8081"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := parseOptions("serve", base, false); err != nil {
		t.Fatalf("without the flag: %v", err)
	}
	for _, bad := range []string{"ui.example", "ftp://ui.example", "https://ui.example/app", "https://u:p@ui.example", "https://ui.example,"} {
		_, err := parseOptions("serve", append(base, "--allowed-origins", bad), false)
		if err == nil || !strings.Contains(err.Error(), "allowed-origins") {
			t.Errorf("--allowed-origins %q: %v", bad, err)
		}
	}
	t.Setenv("ENGINE_ALLOWED_ORIGINS", "nope")
	if _, err := parseOptions("serve", base, false); err == nil || !strings.Contains(err.Error(), "ENGINE_ALLOWED_ORIGINS") {
		t.Errorf("a bad ENGINE_ALLOWED_ORIGINS: %v", err)
	}
}
