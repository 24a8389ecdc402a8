package sdk

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestTokenizers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tok    *Tokenizer
		chunks []string
		want   []string
		rest   int
	}{
		{"delimiter across reads", Delimiter("\r\n"), []string{"POW", "ER ON\r", "\nVOL", "UME 3\r\n"}, []string{"POWER ON", "VOLUME 3"}, 0},
		{"delimiter keeps the remainder", Delimiter("\n"), []string{"a\nb\nc"}, []string{"a", "b"}, 1},
		{"empty frames", Delimiter(";"), []string{";;x;"}, []string{"", "", "x"}, 0},
		{"fixed length", FixedLength(3), []string{"ab", "cdefg", "hi"}, []string{"abc", "def", "ghi"}, 0},
		{"length prefix big endian", LengthPrefix(LengthPrefixed{Size: 2}), []string{"\x00\x03ab", "c\x00\x01z\x00"}, []string{"\x00\x03abc", "\x00\x01z"}, 1},
		{"length prefix with offset, LE, adjust", LengthPrefix(LengthPrefixed{Offset: 1, Size: 1, Adjust: 1}), []string{"\x02\x02hi!", "\x02\x00."}, []string{"\x02\x02hi!", "\x02\x00."}, 0},
		{"custom: STX..ETX, noise dropped", CustomTokenizer(func(b []byte) (int, []byte) {
			if b[0] != 0x02 {
				return 1, nil
			}
			for i := range b {
				if b[i] == 0x03 {
					return i + 1, b[1:i]
				}
			}
			return 0, nil
		}, 0), []string{"zz\x02ab", "c\x03\x02d"}, []string{"abc"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, c := range tc.chunks {
				frames, err := tc.tok.Feed([]byte(c))
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range frames {
					got = append(got, string(f))
				}
			}
			if !reflect.DeepEqual(got, tc.want) || tc.tok.Buffered() != tc.rest {
				t.Fatalf("frames %q (buffered %d), want %q (buffered %d)", got, tc.tok.Buffered(), tc.want, tc.rest)
			}
		})
	}
}

func TestTokenizerLimit(t *testing.T) {
	t.Parallel()
	tok := newTokenizer(Delimiter("\n").split, 8)
	frames, err := tok.Feed([]byte("ok\n0123456789"))
	if len(frames) != 1 || !errors.Is(err, ErrFrameTooLong) || tok.Buffered() != 0 {
		t.Fatalf("frames %q err %v buffered %d", frames, err, tok.Buffered())
	}
	if frames, err := tok.Feed([]byte("next\n")); err != nil || string(frames[0]) != "next" {
		t.Fatalf("after overflow: %q %v", frames, err)
	}
	tok.Feed([]byte("abc"))
	tok.Reset()
	if tok.Buffered() != 0 {
		t.Fatal("reset kept bytes")
	}
}

// sumCheck is a checksum as many binary protocols have it: the last byte is the sum of the ones
// after the header's first byte.
func sumCheck(f []byte) error {
	var sum byte
	for _, b := range f[1 : len(f)-1] {
		sum += b
	}
	if sum != f[len(f)-1] {
		return fmt.Errorf("checksum %02X, want %02X", f[len(f)-1], sum)
	}
	return nil
}

// TestHeaderLengthChecksum feeds one stream in every chunking: header, length byte and checksum
// frames between noise, a damaged frame, a stray header byte and a text banner. What comes out
// must not depend on how the reads cut the stream.
func TestHeaderLengthChecksum(t *testing.T) {
	t.Parallel()
	stream := []byte("\x00\x13" + // noise before a header
		"\xAA\xFF\x01\x02\x41\x11\x54" + // good: length 2, then the checksum
		"\xAA\xFF\x01\x02\x41\x12\x99" + // bad checksum
		"\xAA\x55" + // a stray first header byte
		"\xAA\xFF\x02\x01\x42\x44" + // good
		"BANNER>>")
	want := []string{"AA FF 01 02 41 11 54", "AA FF 02 01 42 44", "42 41 4E 4E 45 52 3E 3E"}
	for size := 1; size <= len(stream); size++ {
		tok := LengthPrefix(LengthPrefixed{Header: []byte{0xAA, 0xFF}, Offset: 3, Size: 1, Adjust: 1, Check: sumCheck}).Also("BANNER>>")
		var got []string
		var bad []*FrameError
		for i := 0; i < len(stream); i += size {
			frames, err := tok.Feed(stream[i:min(i+size, len(stream))])
			for _, f := range frames {
				got = append(got, fmt.Sprintf("% X", f))
			}
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *FrameError
					if !errors.As(e, &fe) {
						t.Fatalf("chunks of %d: %v", size, e)
					}
					bad = append(bad, fe)
				}
			}
		}
		if !reflect.DeepEqual(got, want) || tok.Buffered() != 0 {
			t.Fatalf("chunks of %d: frames %q (buffered %d), want %q", size, got, tok.Buffered(), want)
		}
		if len(bad) != 1 || !bytes.Equal(bad[0].Frame, []byte("\xAA\xFF\x01\x02\x41\x12\x99")) ||
			bad[0].Error() != "bad frame AA FF 01 02 41 12 99: checksum 99, want 55" {
			t.Fatalf("chunks of %d: dropped %v, want the frame with checksum 99", size, bad)
		}
	}
}

// TestAlso: a message outside the framing is a frame of its own, also when it arrives in
// pieces, and a line that only starts like it is still a line.
func TestAlso(t *testing.T) {
	t.Parallel()
	tok := Delimiter("\r\n").Also("Password:")
	var got []string
	for _, c := range []string{"banner\r\nPass", "word:", "Passthrough on\r\n"} {
		frames, err := tok.Feed([]byte(c))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			got = append(got, string(f))
		}
	}
	if want := []string{"banner", "Password:", "Passthrough on"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
}
