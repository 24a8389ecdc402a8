package sdk

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/placeos-go/engine/errkind"
)

// ErrFrameTooLong is reported when buffered data passes a tokenizer's limit without forming a
// frame; the buffer is dropped so one garbled message cannot wedge the stream.
var ErrFrameTooLong = errkind.New(errkind.BadRequest, "frame too long")

// DefaultMaxFrame bounds the bytes a tokenizer buffers while waiting for a frame to complete.
const DefaultMaxFrame = 1 << 20

// SplitFunc finds the first frame at the start of buf. It returns how many bytes to consume
// (0: the frame is incomplete, wait for more data) and the frame to deliver (nil with a
// non-zero advance discards bytes, e.g. noise before a header).
type SplitFunc func(buf []byte) (advance int, frame []byte)

// Tokenizer splits a byte stream into frames, reassembling frames split across reads. A
// tokenizer keeps state: give every transport its own (transports Reset it on reconnect).
type Tokenizer struct {
	split SplitFunc
	max   int
	buf   []byte
}

// NewTokenizer returns a tokenizer using split, buffering at most max bytes (0: DefaultMaxFrame).
func NewTokenizer(split SplitFunc, max int) *Tokenizer {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Tokenizer{split: split, max: max}
}

// Feed adds data and returns the frames it completed. Frames are copies the caller may keep.
// When the buffer passes the limit without a frame it is dropped and ErrFrameTooLong returned
// along with the frames found before.
func (t *Tokenizer) Feed(data []byte) ([][]byte, error) {
	t.buf = append(t.buf, data...)
	var frames [][]byte
	for len(t.buf) > 0 {
		adv, frame := t.split(t.buf)
		if adv <= 0 {
			break
		}
		if adv > len(t.buf) {
			adv = len(t.buf)
		}
		if frame != nil {
			frames = append(frames, bytes.Clone(frame))
		}
		t.buf = t.buf[adv:]
	}
	if len(t.buf) == 0 {
		t.buf = nil // release a large backing array once drained
	}
	if len(t.buf) > t.max {
		n := len(t.buf)
		t.buf = nil
		return frames, fmt.Errorf("%w: %d bytes buffered without a complete frame (limit %d)", ErrFrameTooLong, n, t.max)
	}
	return frames, nil
}

// Buffered is the number of bytes waiting for their frame to complete.
func (t *Tokenizer) Buffered() int { return len(t.buf) }

// Reset drops buffered bytes (a new connection starts a new stream).
func (t *Tokenizer) Reset() { t.buf = nil }

// Delimiter splits on delim; frames exclude it. Delimiter("\r\n") suits most line protocols.
func Delimiter(delim string) *Tokenizer {
	d := []byte(delim)
	if len(d) == 0 {
		panic("sdk: Delimiter needs a non-empty delimiter")
	}
	return NewTokenizer(func(buf []byte) (int, []byte) {
		if i := bytes.Index(buf, d); i >= 0 {
			return i + len(d), buf[:i]
		}
		return 0, nil
	}, 0)
}

// FixedLength splits the stream into frames of n bytes.
func FixedLength(n int) *Tokenizer {
	if n <= 0 {
		panic("sdk: FixedLength needs a positive length")
	}
	return NewTokenizer(func(buf []byte) (int, []byte) {
		if len(buf) < n {
			return 0, nil
		}
		return n, buf[:n]
	}, 0)
}

// LengthPrefixed describes a binary protocol whose frames start with a length field.
type LengthPrefixed struct {
	Offset       int  // bytes before the length field (a start byte, a command id)
	Size         int  // width of the length field: 1, 2, 4 or 8
	LittleEndian bool // byte order of the field [big endian]
	// Adjust is added to the field's value to get the bytes that follow the field: e.g. -2 when
	// the length counts the field itself (2 bytes), or 1 for a trailing checksum.
	Adjust int
}

// LengthPrefix splits frames described by p; frames include the header.
func LengthPrefix(p LengthPrefixed) *Tokenizer {
	switch p.Size {
	case 1, 2, 4, 8:
	default:
		panic(fmt.Sprintf("sdk: LengthPrefix field size %d (want 1, 2, 4 or 8)", p.Size))
	}
	var order binary.ByteOrder = binary.BigEndian
	if p.LittleEndian {
		order = binary.LittleEndian
	}
	head := p.Offset + p.Size
	return NewTokenizer(func(buf []byte) (int, []byte) {
		if len(buf) < head {
			return 0, nil
		}
		field := buf[p.Offset:head]
		var n uint64
		switch p.Size {
		case 1:
			n = uint64(field[0])
		case 2:
			n = uint64(order.Uint16(field))
		case 4:
			n = uint64(order.Uint32(field))
		case 8:
			n = order.Uint64(field)
		}
		body := int64(n) + int64(p.Adjust)
		if body < 0 || n > DefaultMaxFrame*64 {
			return 1, nil // not a plausible header: resynchronise one byte on
		}
		total := head + int(body)
		if len(buf) < total {
			return 0, nil
		}
		return total, buf[:total]
	}, 0)
}

// CustomTokenizer splits with an author's function, buffering at most max bytes.
func CustomTokenizer(split SplitFunc, max int) *Tokenizer { return NewTokenizer(split, max) }
