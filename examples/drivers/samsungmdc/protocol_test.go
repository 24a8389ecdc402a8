package main

import (
	"bytes"
	"fmt"
	"testing"
)

// TestRequestFrames checks frames against the examples Samsung's document and integrators
// quote, e.g. power on to every display: AA 11 FE 01 01 11.
func TestRequestFrames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{request(cmdPower, broadcast, 1), "AA 11 FE 01 01 11"},
		{request(cmdStatus, broadcast), "AA 00 FE 00 FE"},
		{request(cmdInput, 0, 0x21), "AA 14 00 01 21 36"},
		{request(cmdVolume, 0xFD, 100), "AA 12 FD 01 64 74"}, // the checksum wraps around
	} {
		if !bytes.Equal(tc.got, hx(tc.want)) {
			t.Errorf("frame % X, want %s", tc.got, tc.want)
		}
	}
}

// TestTokenizer feeds one stream in every chunking: what it frames must not depend on how TCP
// cut it up.
func TestTokenizer(t *testing.T) {
	t.Parallel()
	stream := hx("00 13 " + // noise before a header
		"AA FF 01 03 41 11 01 56 " + // good
		"AA FF 01 03 41 12 46 9D " + // bad checksum
		"AA 55 " + // a stray 0xAA that starts no reply
		"AA FF 01 09 41 00 01 46 01 23 10 00 00 C5") // good
	stream = append(stream, "MDCSTART<<TLS>>"...)
	want := []string{"AA FF 01 03 41 11 01 56", "AA FF 01 09 41 00 01 46 01 23 10 00 00 C5",
		fmt.Sprintf("% X", []byte("MDCSTART<<TLS>>"))}
	for size := 1; size <= len(stream); size++ {
		tok := tokenizer()
		var got []string
		var bad []string
		for i := 0; i < len(stream); i += size {
			frames, err := tok.Feed(stream[i:min(i+size, len(stream))])
			if err != nil {
				bad = append(bad, err.Error())
			}
			for _, f := range frames {
				got = append(got, fmt.Sprintf("% X", f))
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("chunks of %d: frames %q, want %q", size, got, want)
		}
		if len(bad) != 1 || bad[0] != "bad frame AA FF 01 03 41 12 46 9D: checksum 9D, want 9C" {
			t.Fatalf("chunks of %d: dropped %q, want the frame with checksum 9D", size, bad)
		}
		if tok.Buffered() != 0 {
			t.Fatalf("chunks of %d: %d bytes left over", size, tok.Buffered())
		}
	}
}

func TestInputNames(t *testing.T) {
	t.Parallel()
	for name, code := range map[string]byte{"hdmi1": 0x21, "HDMI": 0x21, " hdmi2_pc ": 0x24, "dp": 0x25,
		"display_port2": 0x26, "vga": 0x14, "pc": 0x14, "dvi": 0x18, "magic_info": 0x20, "whiteboard": 0x64} {
		if got, err := inputCode(name); err != nil || got != code {
			t.Errorf("inputCode(%q) = %#x, %v; want %#x", name, got, err, code)
		}
	}
	seen := map[byte]bool{}
	for _, in := range inputs {
		if seen[in.code] || inputName(in.code) != in.name {
			t.Errorf("input %s (%#x) is not the only name of its code", in.name, in.code)
		}
		seen[in.code] = true
	}
	if got := inputName(0x99); got != "0x99" {
		t.Errorf("an unknown source shows as %q, want 0x99", got)
	}
}
