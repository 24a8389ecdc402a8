package mdcsim

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// TestWire talks to the simulator as a controller does, over TCP, byte by byte.
func TestWire(t *testing.T) {
	t.Parallel()
	sim, err := New("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	sim.Start()
	t.Cleanup(func() { _ = sim.Close() })
	c, err := net.Dial("tcp", sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))

	send := func(frames string) {
		t.Helper()
		if _, err := c.Write(hx(frames)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(want string) {
		t.Helper()
		got := make([]byte, len(hx(want)))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, hx(want)) {
			t.Fatalf("got % X (%v), want %s", got, err, want)
		}
	}

	send("AA 00 01 00 01")
	expect("AA FF 01 09 41 00 00 1E 00 21 10 00 00 99") // off, volume 30, unmuted, HDMI1
	send("AA 12 01 01 28 3C")
	expect("AA FF 01 03 4E 12 03 66") // volume refused while off

	// Ignored: a bad checksum, another display's id. Obeyed unanswered: a broadcast. The
	// next answer is the one for the status read that follows them in the same write.
	send("AA 11 01 01 01 15  AA 11 02 01 01 15  AA 11 FE 01 01 11  AA 00 01 00 01")
	expect("AA FF 01 09 41 00 01 1E 00 21 10 00 00 9A")

	for _, b := range hx("AA 14 01 01 23 39") { // split across writes
		send(hex.EncodeToString([]byte{b}))
	}
	expect("AA FF 01 03 41 14 23 7B")
	send("AA 14 01 01 99 AF")
	expect("AA FF 01 03 4E 14 02 67") // no such source
	send("AA 33 01 00 34")
	expect("AA FF 01 03 4E 33 01 85") // a command the simulator does not know

	sim.CorruptReplies(1)
	send("AA F9 01 01 01 FC  AA F9 01 00 FA")
	expect("AA FF 01 03 41 F9 01 3F") // checksum 3E damaged
	expect("AA FF 01 03 41 F9 01 3E")

	sim.SetSilent(true)
	before := len(sim.Requests())
	send("AA 13 01 01 01 16")
	// Speak again only once the silent request is handled: else it may be answered, with the
	// same bytes as the read below.
	for deadline := time.Now().Add(5 * time.Second); len(sim.Requests()) == before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the simulator did not receive the silent request")
		}
	}
	sim.SetSilent(false)
	send("AA 13 01 00 14")
	expect("AA FF 01 03 41 13 01 58") // the silent mute was obeyed

	if st := sim.State(); !st.Power || !st.PanelOff || !st.Mute || st.Input != 0x23 || st.Volume != 30 {
		t.Fatalf("state %+v", st)
	}
	if n := len(sim.Requests()); n != 12 {
		t.Fatalf("%d requests recorded, want the 12 with a good checksum", n)
	}
}
