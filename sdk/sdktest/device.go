package sdktest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SendTimeout bounds ShouldSend and ExpectSend, as the PlaceOS spec runner's 500 ms does, but
// longer because CI machines are slow.
var SendTimeout = 2 * time.Second

// Device is a mock TCP or UDP device on 127.0.0.1: the driver under test connects to it, the
// test checks what the driver sends (byte-exact, across reads) and answers.
type Device struct {
	t   testing.TB
	udp bool
	ln  net.Listener
	pc  net.PacketConn

	mu      sync.Mutex
	conn    net.Conn // TCP: the newest connection
	peer    net.Addr // UDP: where the last datagram came from
	buf     []byte   // received and not yet consumed by an expectation
	arrived chan struct{}
	conns   int // connections accepted so far
	cut     int // conns when Disconnect closed a connection, until ExpectReconnect waits past it
	closed0 int // conns when Disconnect was last called
	closed  bool
	wg      sync.WaitGroup
}

// TCPDevice starts a mock TCP device; Start points the module at it when Module.Port is 0.
func (h *Harness) TCPDevice() *Device {
	h.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatalf("sdktest: mock device: %v", err)
	}
	d := &Device{t: h.t, ln: ln, arrived: make(chan struct{})}
	d.wg.Add(1)
	go d.accept()
	h.setDevice(d)
	h.t.Cleanup(d.Close)
	return d
}

// UDPDevice starts a mock UDP device; Start points the module at it (udp set) when Module.Port
// is 0. Responses go to the address the last datagram came from.
func (h *Harness) UDPDevice() *Device {
	h.t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatalf("sdktest: mock device: %v", err)
	}
	d := &Device{t: h.t, udp: true, pc: pc, arrived: make(chan struct{})}
	d.wg.Add(1)
	go d.readPackets()
	h.setDevice(d)
	h.t.Cleanup(d.Close)
	return d
}

// Port is the device's port.
func (d *Device) Port() int {
	if d.udp {
		return d.pc.LocalAddr().(*net.UDPAddr).Port
	}
	return d.ln.Addr().(*net.TCPAddr).Port
}

// Addr is host:port of the device.
func (d *Device) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.Port())) }

// Connections is how many connections the device has accepted.
func (d *Device) Connections() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conns
}

// Connected reports whether the driver holds a TCP connection to the device.
func (d *Device) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn != nil
}

// Close stops the device (the test's cleanup does it).
func (d *Device) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	conn := d.conn
	d.mu.Unlock()
	if d.ln != nil {
		_ = d.ln.Close()
	}
	if d.pc != nil {
		_ = d.pc.Close()
	}
	if conn != nil {
		_ = conn.Close()
	}
	d.wg.Wait()
}

func (d *Device) accept() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			_ = c.Close()
			return
		}
		if d.conn != nil {
			_ = d.conn.Close() // a device takes one client; the newest wins
		}
		d.conn = c
		d.conns++
		d.buf = nil // a new connection starts a new conversation
		d.notifyLocked()
		d.mu.Unlock()
		d.wg.Add(1)
		go d.read(c)
	}
}

func (d *Device) read(c net.Conn) {
	defer d.wg.Done()
	b := make([]byte, 64<<10)
	for {
		n, err := c.Read(b)
		if n > 0 {
			d.mu.Lock()
			d.buf = append(d.buf, b[:n]...)
			d.notifyLocked()
			d.mu.Unlock()
		}
		if err != nil {
			d.mu.Lock()
			if d.conn == c {
				d.conn = nil
				d.notifyLocked()
			}
			d.mu.Unlock()
			return
		}
	}
}

func (d *Device) readPackets() {
	defer d.wg.Done()
	b := make([]byte, 64<<10)
	for {
		n, addr, err := d.pc.ReadFrom(b)
		if err != nil {
			return
		}
		d.mu.Lock()
		d.peer = addr
		d.buf = append(d.buf, b[:n]...)
		d.notifyLocked()
		d.mu.Unlock()
	}
}

func (d *Device) notifyLocked() {
	close(d.arrived)
	d.arrived = make(chan struct{})
}

// waitFor waits until cond (called with d.mu held) is true or the timeout passes.
func (d *Device) waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		ok, ch := cond(), d.arrived
		d.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		}
	}
}

// ExpectConnect waits until the device has accepted n connections in all (1: the first).
func (d *Device) ExpectConnect(n int) {
	d.t.Helper()
	if !d.waitFor(Timeout, func() bool { return d.conns >= n && d.conn != nil }) {
		d.t.Fatalf("sdktest: the driver did not open connection %d to the device within %s (%d so far)", n, Timeout, d.Connections())
	}
}

// ExpectReconnect waits for the driver to open a new connection after the current one.
func (d *Device) ExpectReconnect() {
	d.t.Helper()
	d.mu.Lock()
	n := d.conns + 1
	if d.cut > 0 { // after a Disconnect: the connection after the one it closed
		n, d.cut = d.cut+1, 0
	}
	d.mu.Unlock()
	d.ExpectConnect(n)
}

// ShouldSend fails the test unless the driver sends exactly want (string or []byte) next. The
// bytes may arrive over several reads; bytes after want stay for the next expectation.
func (d *Device) ShouldSend(want any) {
	d.t.Helper()
	w := toBytes(d.t, want)
	var got []byte
	ok := d.waitFor(SendTimeout, func() bool {
		n := min(len(d.buf), len(w))
		if !bytes.Equal(d.buf[:n], w[:n]) { // a mismatch is final: do not wait for more
			got = bytes.Clone(d.buf)
			return true
		}
		return len(d.buf) >= len(w)
	})
	d.mu.Lock()
	if got == nil {
		got = bytes.Clone(d.buf)
	}
	if ok && bytes.HasPrefix(got, w) {
		d.buf = d.buf[len(w):]
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	what := "sent different bytes"
	if !ok {
		what = fmt.Sprintf("did not send them within %s", SendTimeout)
	}
	d.t.Fatalf("sdktest: the driver %s\n%s", what, Diff(w, got))
}

// ExpectSend returns the bytes the driver sent that no expectation has consumed yet, waiting
// for at least one.
func (d *Device) ExpectSend() []byte {
	d.t.Helper()
	if !d.waitFor(SendTimeout, func() bool { return len(d.buf) > 0 }) {
		d.t.Fatalf("sdktest: the driver sent nothing to the device within %s", SendTimeout)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.buf
	d.buf = nil
	return b
}

// ShouldNotSend fails the test if the driver sends anything within wait (real time: use it
// with a short wait, e.g. to show a queue is holding a command until the clock advances).
func (d *Device) ShouldNotSend(wait time.Duration) {
	d.t.Helper()
	if d.waitFor(wait, func() bool { return len(d.buf) > 0 }) {
		d.mu.Lock()
		b := bytes.Clone(d.buf)
		d.mu.Unlock()
		d.t.Fatalf("sdktest: the driver sent %s, want nothing", Printable(b))
	}
}

// Respond sends data (string or []byte) to the driver, as the device.
func (d *Device) Respond(data any) {
	d.t.Helper()
	b := toBytes(d.t, data)
	if d.udp {
		if !d.waitFor(Timeout, func() bool { return d.peer != nil }) {
			d.t.Fatal("sdktest: the driver has sent no datagram, so the device does not know where to answer")
		}
		d.mu.Lock()
		peer := d.peer
		d.mu.Unlock()
		if _, err := d.pc.WriteTo(b, peer); err != nil {
			d.t.Fatalf("sdktest: device respond: %v", err)
		}
		return
	}
	if !d.waitFor(Timeout, func() bool { return d.conn != nil }) {
		d.t.Fatal("sdktest: the driver is not connected to the device")
	}
	d.mu.Lock()
	c := d.conn
	d.mu.Unlock()
	if _, err := c.Write(b); err != nil {
		d.t.Fatalf("sdktest: device respond: %v", err)
	}
}

// Disconnect closes the driver's connection (a device reboot, a pulled cable).
// The driver may see its connection open (and run OnConnect) a moment before the device has
// accepted it, so Disconnect first waits until the device has accepted a connection since its
// last Disconnect; that connection may be closed already (a driver that hung up itself).
func (d *Device) Disconnect() {
	d.t.Helper()
	if !d.waitFor(Timeout, func() bool { return d.conns > d.closed0 }) {
		d.t.Fatal("sdktest: Disconnect: the driver has not connected to the device")
	}
	d.mu.Lock()
	c := d.conn
	d.cut, d.closed0 = d.conns, d.conns
	d.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func toBytes(t testing.TB, v any) []byte {
	t.Helper()
	switch x := v.(type) {
	case string:
		return []byte(x)
	case []byte:
		return x
	}
	t.Fatalf("sdktest: want a string or []byte, got %T", v)
	return nil
}

// Printable shows bytes as a Go string literal with their hex: "PWR\r\n" (50 57 52 0d 0a).
func Printable(b []byte) string {
	if len(b) == 0 {
		return `"" (nothing)`
	}
	return fmt.Sprintf("%s (%s)", strconv.Quote(string(b)), spacedHex(b))
}

func spacedHex(b []byte) string {
	h := hex.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// Diff explains how got differs from want: both printable and in hex, and the first offset
// where they differ.
func Diff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	where := fmt.Sprintf("first difference at byte %d", i)
	if i == len(got) && i < len(want) {
		where = fmt.Sprintf("received only the first %d of %d bytes", i, len(want))
	}
	return fmt.Sprintf("  expected: %s\n  received: %s\n  %s", Printable(want), Printable(got), where)
}
