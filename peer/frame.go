package peer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// The exec protocol carries forwarded executes between nodes as length-prefixed frames, many
// calls at once on one connection per pair of nodes (doc.go; docs/protocol.md §1.9 has the
// bytes). It exists because an HTTP/1.1 round trip per forwarded call cost the calling node more
// than the call itself: request and header framing on both sides, and three goroutines per call
// in net/http's client.

// execMagic opens an exec connection, after the connection's proof, and the accepting node
// echoes it to say it speaks the protocol. Its first byte is neither a Raft RPC type nor an HTTP
// method (the port sorts by it); it is 64 bytes, more than a cluster greeting, so that a port
// waiting for a greeting that never comes reads enough to refuse at once.
const execMagic = "\xeeENGINE-EXEC/1 node-to-node executes in length-prefixed frames\n"

// Frame types. A frame is a header — the length of what follows it (uint32, big-endian), the
// type (one byte), the call's id (uint64, big-endian) — and the type's payload.
const (
	frameCall   byte = 1 // → the call (callFrame)
	frameCancel byte = 2 // → the caller gave up on call id; no payload
	frameAnswer byte = 3 // ← status (uint16) and body: the driver's result, or the error body
	framePing   byte = 4 // → are you there; no payload
	framePong   byte = 5 // ← the answer to a ping of the same id
)

// frameHeader is the size of a frame's header; frameFixed the part of it the length counts.
const (
	frameHeader = 13
	frameFixed  = frameHeader - 4
)

// maxAnswer bounds the answer frames a client reads: a driver's result is at most a gRPC message
// (plugin.MaxMessageSize, 64 MiB) and an error body is small. A longer frame is a broken stream.
const maxAnswerFrame = 128 << 20

// maxTimeoutMS is the longest deadline a call may carry (as the ?timeout= of the HTTP route).
const maxTimeoutMS = int64(time.Duration(1<<62) / time.Millisecond)

// errFrame is a stream that does not follow the protocol; the connection is closed.
var errFrame = errors.New("malformed exec frame")

// callFrame is a forwarded execute: frameCall's payload, in this order: the remaining deadline
// in milliseconds (uvarint, 0 for none), the caller's clearance and user id, the request id, the
// module id and the function (each a uvarint length and the bytes), then the arguments as they
// came (JSON text) up to the end of the frame.
type callFrame struct {
	timeoutMS                                      uint64
	clearance, userID, requestID, module, function string
	args                                           []byte
}

// appendCallHead appends the header and every field of the call but its arguments, which the
// caller appends after it (c.args, as the client sent them).
func appendCallHead(b []byte, id uint64, c *callFrame) []byte {
	n := frameFixed + uvarintLen(c.timeoutMS) + len(c.args)
	for _, s := range c.strings() {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	b = appendHeader(b, n, frameCall, id)
	b = binary.AppendUvarint(b, c.timeoutMS)
	for _, s := range c.strings() {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func (c *callFrame) strings() [5]string {
	return [5]string{c.clearance, c.userID, c.requestID, c.module, c.function}
}

// parseCall reads a frameCall payload. The strings share one copy of their bytes; the arguments
// are the payload's own (the caller hands the payload over).
func parseCall(p []byte) (callFrame, error) {
	var c callFrame
	ms, k := binary.Uvarint(p)
	if k <= 0 || ms > uint64(maxTimeoutMS) {
		return c, fmt.Errorf("%w: call deadline", errFrame)
	}
	c.timeoutMS = ms
	start := k
	var bounds [5][2]int
	for i := range bounds {
		l, k := binary.Uvarint(p[start:])
		if k <= 0 || l > uint64(len(p)-start-k) {
			return c, fmt.Errorf("%w: call field %d", errFrame, i)
		}
		start += k
		bounds[i] = [2]int{start, start + int(l)}
		start += int(l)
	}
	text := string(p[bounds[0][0]:start]) // one allocation for the five strings
	base := bounds[0][0]
	field := func(i int) string { return text[bounds[i][0]-base : bounds[i][1]-base] }
	c.clearance, c.userID, c.requestID, c.module, c.function = field(0), field(1), field(2), field(3), field(4)
	if start < len(p) {
		c.args = p[start:]
	}
	return c, nil
}

// appendHeader appends a frame header; n is the length it states: type, id and payload.
func appendHeader(b []byte, n int, typ byte, id uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, typ)
	return binary.BigEndian.AppendUint64(b, id)
}

// appendAnswerHead appends the header and status of an answer whose body (n bytes) follows.
func appendAnswerHead(b []byte, id uint64, status, n int) []byte {
	b = appendHeader(b, frameFixed+2+n, frameAnswer, id)
	return binary.BigEndian.AppendUint16(b, uint16(status))
}

// parseAnswer reads a frameAnswer payload.
func parseAnswer(p []byte) (status int, body []byte, err error) {
	if len(p) < 2 {
		return 0, nil, fmt.Errorf("%w: answer without a status", errFrame)
	}
	return int(binary.BigEndian.Uint16(p)), p[2:], nil
}

// readHeader reads the next frame's header; size is the length of its payload. A clean end of
// the stream between frames is io.EOF; one inside a header is io.ErrUnexpectedEOF.
func readHeader(r *bufio.Reader) (typ byte, id uint64, size int, err error) {
	h, err := r.Peek(frameHeader)
	if err != nil {
		if errors.Is(err, io.EOF) && len(h) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return 0, 0, 0, err
	}
	n := binary.BigEndian.Uint32(h)
	typ, id = h[4], binary.BigEndian.Uint64(h[5:])
	_, _ = r.Discard(frameHeader)
	if n < frameFixed {
		return 0, 0, 0, fmt.Errorf("%w: length %d", errFrame, n)
	}
	return typ, id, int(n - frameFixed), nil
}

// readPayload reads a payload of size bytes into a buffer of its own.
func readPayload(r *bufio.Reader, size int) ([]byte, error) {
	p := make([]byte, size)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
