package sdk

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// splitFunc is a SplitFunc that may also report bytes it drops as a bad frame (a *FrameError).
type splitFunc func(buf []byte) (advance int, frame []byte, bad error)

// FrameError is a frame a tokenizer dropped because LengthPrefixed.Check refused it. Feed
// returns it; a transport logs it at WARN ("dropping a bad frame", with the frame's bytes).
type FrameError struct {
	Frame []byte
	Err   error // what Check said
}

func (e *FrameError) Error() string { return fmt.Sprintf("bad frame % X: %v", e.Frame, e.Err) }

func (e *FrameError) Unwrap() error { return e.Err }

// Tokenizer splits a byte stream into frames, reassembling frames split across reads. A
// tokenizer keeps state: give every transport its own (transports Reset it on reconnect).
type Tokenizer struct {
	split splitFunc
	max   int
	buf   []byte
}

// NewTokenizer returns a tokenizer using split, buffering at most max bytes (0: DefaultMaxFrame).
func NewTokenizer(split SplitFunc, max int) *Tokenizer {
	return newTokenizer(func(buf []byte) (int, []byte, error) {
		adv, frame := split(buf)
		return adv, frame, nil
	}, max)
}

func newTokenizer(split splitFunc, max int) *Tokenizer {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Tokenizer{split: split, max: max}
}

// Feed adds data and returns the frames it completed. Frames are copies the caller may keep.
// The error reports what was dropped along the way, joined: every *FrameError, and
// ErrFrameTooLong when the buffer passed the limit without a frame (the buffer is dropped).
func (t *Tokenizer) Feed(data []byte) ([][]byte, error) {
	t.buf = append(t.buf, data...)
	var frames [][]byte
	var dropped []error
	for len(t.buf) > 0 {
		adv, frame, bad := t.split(t.buf)
		if bad != nil {
			dropped = append(dropped, bad)
		}
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
		dropped = append(dropped, fmt.Errorf("%w: %d bytes buffered without a complete frame (limit %d)", ErrFrameTooLong, n, t.max))
	}
	return frames, errors.Join(dropped...)
}

// Also makes t deliver each of messages as a frame of its own wherever one starts the
// buffered data: what a device sends outside its framing, such as a password prompt with no
// line end, or a text banner ahead of binary frames. Data that may be the start of one of them
// waits for more rather than being skipped as noise. It returns t.
func (t *Tokenizer) Also(messages ...string) *Tokenizer {
	split := t.split
	t.split = func(buf []byte) (int, []byte, error) {
		partial := false
		for _, m := range messages {
			if bytes.HasPrefix(buf, []byte(m)) {
				return len(m), buf[:len(m)], nil
			}
			partial = partial || bytes.HasPrefix([]byte(m), buf)
		}
		adv, frame, bad := split(buf)
		if partial && frame == nil && bad == nil {
			return 0, nil, nil
		}
		return adv, frame, bad
	}
	return t
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

// LengthPrefixed describes a binary protocol whose frames carry their length: an optional
// header that starts every frame, a length field, and an optional check of the whole frame.
type LengthPrefixed struct {
	// Header starts every frame (e.g. AA FF); bytes before one are skipped as noise.
	Header []byte
	// Offset is the number of bytes before the length field, counted from the start of the
	// frame (the header included): a start byte, a command id.
	Offset       int
	Size         int  // width of the length field: 1, 2, 4 or 8
	LittleEndian bool // byte order of the field [big endian]
	// Adjust is added to the field's value to get the bytes that follow the field: e.g. -2 when
	// the length counts the field itself (2 bytes), or 1 for a trailing checksum.
	Adjust int
	// Check validates a complete frame (its checksum, say; the slice is only valid during the
	// call). A frame it refuses is dropped, the transport logs the bytes and the error at WARN
	// ("dropping a bad frame"), and the search resumes one byte on: the length field may be
	// what was damaged. The command the frame answered times out and is retried.
	Check func(frame []byte) error
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
	hdr := bytes.Clone(p.Header)
	return newTokenizer(func(buf []byte) (int, []byte, error) {
		if n := min(len(buf), len(hdr)); !bytes.Equal(buf[:n], hdr[:n]) {
			// Not at a header: skip to the next byte that may start one.
			if i := bytes.IndexByte(buf[1:], hdr[0]); i >= 0 {
				return i + 1, nil, nil
			}
			return len(buf), nil, nil
		}
		if len(buf) < max(head, len(hdr)) {
			return 0, nil, nil
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
			return 1, nil, nil // not a plausible header: resynchronise one byte on
		}
		total := head + int(body)
		if len(buf) < total {
			return 0, nil, nil
		}
		frame := buf[:total]
		if p.Check != nil {
			if err := p.Check(frame); err != nil {
				return 1, nil, &FrameError{Frame: bytes.Clone(frame), Err: err}
			}
		}
		return total, frame, nil
	}, 0)
}

// CustomTokenizer splits with an author's function, buffering at most max bytes.
func CustomTokenizer(split SplitFunc, max int) *Tokenizer { return NewTokenizer(split, max) }
