package peer

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzFrames: the frame reader and the call and answer parsers take any bytes without panicking
// or allocating more than the stream holds, and a call written by appendCallHead reads back as
// it was written.
func FuzzFrames(f *testing.F) {
	call := callFrame{timeoutMS: 1500, clearance: "support", userID: "u1", requestID: "rid", module: "mod-1",
		function: "power", args: []byte(`[true]`)}
	whole := append(appendCallHead(nil, 7, &call), call.args...)
	f.Add(whole, "mod-1", "power", []byte(`[1]`))
	f.Add(whole[:len(whole)-2], "", "", []byte(nil))
	f.Add(append(appendAnswerHead(nil, 7, 200, 3), "[1]"...), "m", "f\x00", []byte(`{}`))
	f.Add(appendHeader(nil, frameFixed, framePing, 1), "ünï", `say "hi"`, []byte(" "))
	f.Add([]byte{0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff}, "a", "b", []byte("c"))
	f.Fuzz(func(t *testing.T, stream []byte, module, function string, args []byte) {
		br := bufio.NewReader(bytes.NewReader(stream))
		for {
			typ, _, size, err := readHeader(br)
			if err != nil || size > len(stream) {
				break
			}
			p, err := readPayload(br, size)
			if err != nil {
				break
			}
			switch typ {
			case frameCall:
				_, _ = parseCall(p)
			case frameAnswer:
				_, _, _ = parseAnswer(p)
			}
		}

		in := callFrame{timeoutMS: uint64(len(stream)), clearance: "user", userID: module, requestID: function,
			module: module, function: function, args: args}
		frame := append(appendCallHead(nil, 42, &in), args...)
		br = bufio.NewReader(bytes.NewReader(frame))
		typ, id, size, err := readHeader(br)
		if err != nil || typ != frameCall || id != 42 || size != len(frame)-frameHeader {
			t.Fatalf("header: %d %d %d %v", typ, id, size, err)
		}
		p, err := readPayload(br, size)
		if err != nil {
			t.Fatal(err)
		}
		out, err := parseCall(p)
		if err != nil {
			t.Fatal(err)
		}
		if out.timeoutMS != in.timeoutMS || out.strings() != in.strings() || !bytes.Equal(out.args, in.args) ||
			(len(in.args) == 0) != (out.args == nil) {
			t.Fatalf("read back %+v, wrote %+v", out, in)
		}
	})
}
