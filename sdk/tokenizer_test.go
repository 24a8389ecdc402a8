package sdk

import (
	"errors"
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
	tok := NewTokenizer(Delimiter("\n").split, 8)
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
