package camerasim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Payload types of the VISCA over IP header.
const (
	TypeCommand      = 0x0100
	TypeInquiry      = 0x0110
	TypeReply        = 0x0111
	TypeControl      = 0x0200
	TypeControlReply = 0x0201
)

// MaxZoom is the tele end of the zoom range.
const MaxZoom = 0x4000

// Reply payloads.
var (
	ack           = []byte{0x90, 0x41, 0xFF}
	completion    = []byte{0x90, 0x51, 0xFF}
	syntaxError   = []byte{0x90, 0x60, 0x02, 0xFF}
	notExecutable = []byte{0x90, 0x61, 0x41, 0xFF}
)

// State is the camera's state.
type State struct {
	Power  bool
	Zoom   int    // 0 (wide) to MaxZoom (tele)
	Moving string // "" when still, else up, down, left or right
	Preset int    // last preset recalled, -1 for none
}

// Sim is a running camera.
type Sim struct {
	pc net.PacketConn

	mu      sync.Mutex
	state   State
	presets map[int]int // preset -> zoom
	drop    int
	packets int

	wg sync.WaitGroup
}

// New listens on addr ("127.0.0.1:0" for a free port) and serves until Close. The camera
// starts in standby, zoomed out, with no presets.
func New(addr string) (*Sim, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("camerasim: listen %s: %w", addr, err)
	}
	s := &Sim{pc: pc, state: State{Preset: -1}, presets: map[int]int{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the listening address.
func (s *Sim) Addr() string { return s.pc.LocalAddr().String() }

// Port is the listening port.
func (s *Sim) Port() int { return s.pc.LocalAddr().(*net.UDPAddr).Port }

// State returns the current state.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// SetPower changes power from the IR remote.
func (s *Sim) SetPower(on bool) {
	s.mu.Lock()
	s.state.Power = on
	s.mu.Unlock()
}

// DropNext makes the camera ignore the next n datagrams, as a lossy network would.
func (s *Sim) DropNext(n int) {
	s.mu.Lock()
	s.drop = n
	s.mu.Unlock()
}

// Packets is the number of datagrams received, dropped ones included.
func (s *Sim) Packets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.packets
}

// Close stops the camera and waits for its goroutine.
func (s *Sim) Close() error {
	err := s.pc.Close()
	s.wg.Wait()
	return err
}

func (s *Sim) serve() {
	defer s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		for _, reply := range s.handle(buf[:n]) {
			_, _ = s.pc.WriteTo(reply, from)
		}
	}
}

// Packet builds a VISCA over IP datagram.
func Packet(typ uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(payload)))
	binary.BigEndian.PutUint32(b[4:8], seq)
	return append(b, payload...)
}

// handle answers one datagram with zero or more datagrams.
func (s *Sim) handle(d []byte) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets++
	if s.drop > 0 {
		s.drop--
		return nil
	}
	if len(d) < 8 || int(binary.BigEndian.Uint16(d[2:4])) != len(d)-8 {
		return nil // not VISCA over IP: a real camera ignores it too
	}
	typ, seq, p := binary.BigEndian.Uint16(d[0:2]), binary.BigEndian.Uint32(d[4:8]), d[8:]
	reply := func(payloads ...[]byte) [][]byte {
		out := make([][]byte, len(payloads))
		for i, pl := range payloads {
			out[i] = Packet(TypeReply, seq, pl)
		}
		return out
	}
	switch typ {
	case TypeControl:
		if len(p) == 1 && p[0] == 0x01 {
			return [][]byte{Packet(TypeControlReply, seq, []byte{0x01})}
		}
		return [][]byte{Packet(TypeControlReply, seq, []byte{0x0F, 0x01})}
	case TypeInquiry:
		return reply(s.inquiry(p))
	case TypeCommand:
		if res := s.command(p); res != nil {
			return reply(res)
		}
		return reply(ack, completion)
	}
	return reply(syntaxError)
}

func (s *Sim) inquiry(p []byte) []byte {
	switch {
	case eq(p, 0x81, 0x09, 0x04, 0x00, 0xFF):
		if s.state.Power {
			return []byte{0x90, 0x50, 0x02, 0xFF}
		}
		return []byte{0x90, 0x50, 0x03, 0xFF}
	case eq(p, 0x81, 0x09, 0x04, 0x47, 0xFF):
		z := s.state.Zoom
		return []byte{0x90, 0x50, byte(z >> 12 & 0xF), byte(z >> 8 & 0xF), byte(z >> 4 & 0xF), byte(z & 0xF), 0xFF}
	}
	return syntaxError
}

// command applies a command and returns an error payload, or nil when it succeeded.
func (s *Sim) command(p []byte) []byte {
	switch {
	case eq(p, 0x81, 0x01, 0x04, 0x00, 0x02, 0xFF):
		s.state.Power = true
		return nil
	case eq(p, 0x81, 0x01, 0x04, 0x00, 0x03, 0xFF):
		s.state.Power, s.state.Moving = false, ""
		return nil
	case len(p) == 9 && eq(p[:4], 0x81, 0x01, 0x04, 0x47) && p[8] == 0xFF:
		z := int(p[4]&0xF)<<12 | int(p[5]&0xF)<<8 | int(p[6]&0xF)<<4 | int(p[7]&0xF)
		if z > MaxZoom {
			return syntaxError
		}
		if !s.state.Power {
			return notExecutable
		}
		s.state.Zoom = z
		return nil
	case len(p) == 9 && eq(p[:4], 0x81, 0x01, 0x06, 0x01) && p[8] == 0xFF:
		dir, ok := map[[2]byte]string{{3, 1}: "up", {3, 2}: "down", {1, 3}: "left", {2, 3}: "right", {3, 3}: ""}[[2]byte{p[6], p[7]}]
		if !ok {
			return syntaxError
		}
		if !s.state.Power {
			return notExecutable
		}
		s.state.Moving = dir
		return nil
	case len(p) == 7 && eq(p[:4], 0x81, 0x01, 0x04, 0x3F) && p[6] == 0xFF && p[5] <= 0x7F:
		n := int(p[5])
		switch p[4] {
		case 0x01:
			if !s.state.Power {
				return notExecutable
			}
			s.presets[n] = s.state.Zoom
			return nil
		case 0x02:
			z, ok := s.presets[n]
			if !ok || !s.state.Power {
				return notExecutable
			}
			s.state.Zoom, s.state.Preset, s.state.Moving = z, n, ""
			return nil
		}
	}
	return syntaxError
}

func eq(p []byte, want ...byte) bool {
	if len(p) != len(want) {
		return false
	}
	for i := range p {
		if p[i] != want[i] {
			return false
		}
	}
	return true
}
