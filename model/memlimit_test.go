package model

import (
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for in, want := range map[string]int64{
		"": 0, "0": 0, "off": 0, "OFF": 0, "none": 0,
		"512MiB": 512 << 20, "512mib": 512 << 20, "512M": 512 << 20, "1GiB": 1 << 30, "1.5GiB": 3 << 29,
		"512MB": 512e6, "1GB": 1e9, "536870912": 512 << 20, " 256 MiB ": 256 << 20,
	} {
		got, err := ParseMemoryLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseMemoryLimit(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"lots": "want a size", "512XB": "want a size", "-1GiB": "want a size", "1e400": "want a size",
		"64MiB": "below the smallest limit", "1000": "below the smallest limit",
	} {
		if _, err := ParseMemoryLimit(in); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseMemoryLimit(%q) = %v, want an error saying %q", in, err, why)
		}
	}
}

func TestValidateDriverMemoryLimit(t *testing.T) {
	m := &Model{Drivers: map[string]*Driver{"d1": {ID: "d1", ModuleName: "D", Role: "logic", Binary: "/bin/d", MemoryLimit: "lots"}}}
	err := m.Validate()
	if err == nil || !strings.Contains(err.Error(), "memory_limit") {
		t.Fatalf("Validate = %v, want a memory_limit refusal", err)
	}
	m.Drivers["d1"].MemoryLimit = "1GiB"
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}
