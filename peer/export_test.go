package peer

import (
	"bufio"
	"time"
)

// What the tests of package peer_test need of the exec protocol's insides.

const ExecMagic = execMagic

const (
	FrameCall   = frameCall
	FrameCancel = frameCancel
	FrameAnswer = frameAnswer
	FramePing   = framePing
	FramePong   = framePong
)

// CallFrame is the bytes of a call frame, as a client writes them.
func CallFrame(id uint64, module, function string, args []byte) []byte {
	c := callFrame{clearance: "user", module: module, function: function, args: args}
	return append(appendCallHead(nil, id, &c), args...)
}

// Frame is the bytes of a frame of any type with payload p.
func Frame(typ byte, id uint64, p []byte) []byte {
	return append(appendHeader(nil, frameFixed+len(p), typ, id), p...)
}

// ReadFrame reads one frame: its type, id and payload.
func ReadFrame(br *bufio.Reader) (byte, uint64, []byte, error) {
	typ, id, size, err := readHeader(br)
	if err != nil {
		return 0, 0, nil, err
	}
	p, err := readPayload(br, size)
	return typ, id, p, err
}

// Answer reads an answer frame's payload.
func Answer(p []byte) (int, string, error) {
	status, body, err := parseAnswer(p)
	return status, string(body), err
}

// Links is the number of exec links c holds open or dialling.
func Links(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.links)
}

// CallsOverHTTP reports whether c calls the node at addr over HTTP for now.
func CallsOverHTTP(c *Client, addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.httpOnly[addr])
}

// SetLinkTimings changes c's watchdog period and idle time; call it before c's first call.
func SetLinkTimings(c *Client, check, idle time.Duration) {
	c.timings = linkTimings{check: check, idle: idle}
}
