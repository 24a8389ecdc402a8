package mdcsim

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"

	"github.com/placeos-go/engine/examples/simtcp"
)

// Protocol bytes.
const (
	header    = 0xAA
	replyMark = 0xFF
	broadcast = 0xFE
)

// Commands the simulator knows.
const (
	CmdStatus = 0x00
	CmdPower  = 0x11
	CmdVolume = 0x12
	CmdMute   = 0x13
	CmdInput  = 0x14
	CmdPanel  = 0xF9
)

// Nak error codes of the simulator (see the package comment).
const (
	ErrUnknown    = 0x01
	ErrRange      = 0x02
	ErrPoweredOff = 0x03
)

// Input source codes the simulated display accepts (HDMI1 0x21 ... whiteboard 0x64).
var sources = []byte{0x04, 0x08, 0x0C, 0x0D, 0x0E, 0x14, 0x18, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x24,
	0x25, 0x26, 0x27, 0x30, 0x31, 0x32, 0x33, 0x34, 0x40, 0x50, 0x55, 0x60, 0x61, 0x62, 0x63, 0x64}

// HDMI1 is the source a new simulator shows.
const HDMI1 = 0x21

// State is the display's state.
type State struct {
	Power    bool
	PanelOff bool
	Volume   int
	Mute     bool
	Input    byte
}

// Sim is a running simulator. Start, Addr, Port, Connections, DropConnections and Close are
// its TCP server's.
type Sim struct {
	*simtcp.Server
	id byte

	mu       sync.Mutex
	state    State
	silent   bool
	corrupt  int
	requests [][]byte
}

// New listens on addr ("127.0.0.1:0" for a free port) as display id, switched off, on HDMI1 at
// volume 30.
func New(addr string, id byte) (*Sim, error) {
	if id >= broadcast {
		return nil, fmt.Errorf("mdcsim: display id %d: want 0-253", id)
	}
	s := &Sim{id: id, state: State{Volume: 30, Input: HDMI1}}
	srv, err := simtcp.Listen(addr, s.serve)
	if err != nil {
		return nil, fmt.Errorf("mdcsim: %w", err)
	}
	s.Server = srv
	return s, nil
}

// State returns the current state.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Requests returns every request frame received so far with a good checksum, for any id.
func (s *Sim) Requests() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SetSilent makes the display obey requests without answering them (a lost answer).
func (s *Sim) SetSilent(on bool) {
	s.mu.Lock()
	s.silent = on
	s.mu.Unlock()
}

// CorruptReplies damages the checksum of the next n answers.
func (s *Sim) CorruptReplies(n int) {
	s.mu.Lock()
	s.corrupt = n
	s.mu.Unlock()
}

// SetPower, SetVolume, SetMute and SetInput change the state as the remote control does.
func (s *Sim) SetPower(on bool)  { s.change(func(st *State) { st.Power = on }) }
func (s *Sim) SetVolume(v int)   { s.change(func(st *State) { st.Volume = v }) }
func (s *Sim) SetMute(on bool)   { s.change(func(st *State) { st.Mute = on }) }
func (s *Sim) SetInput(src byte) { s.change(func(st *State) { st.Input = src }) }

func (s *Sim) change(f func(*State)) {
	s.mu.Lock()
	f(&s.state)
	s.mu.Unlock()
}

func (s *Sim) serve(c net.Conn) {
	r := bufio.NewReader(c)
	for {
		req, err := readRequest(r)
		if err != nil {
			return
		}
		if req == nil {
			continue // bad checksum: a real display drops it unanswered
		}
		if reply := s.handle(req); reply != nil {
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	}
}

// readRequest reads the next frame, skipping bytes before a header; nil means a frame with a
// bad checksum.
func readRequest(r *bufio.Reader) ([]byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == header {
			break
		}
	}
	head := make([]byte, 4)
	head[0] = header
	if _, err := io.ReadFull(r, head[1:]); err != nil {
		return nil, err
	}
	rest := make([]byte, int(head[3])+1)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, err
	}
	f := append(head, rest...)
	if sum(f[1:len(f)-1]) != f[len(f)-1] {
		return nil, nil
	}
	return f, nil
}

// handle applies a request and returns the answer, nil when there is none.
func (s *Sim) handle(req []byte) []byte {
	cmd, id, data := req[1], req[2], req[4:len(req)-1]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if id != s.id && id != broadcast {
		return nil
	}
	values, code := s.execLocked(cmd, data)
	if id == broadcast || s.silent {
		return nil
	}
	var reply []byte
	if code != 0 {
		reply = frame(s.id, 'N', cmd, code)
	} else {
		reply = frame(s.id, 'A', cmd, values...)
	}
	if s.corrupt > 0 {
		s.corrupt--
		reply[len(reply)-1]++
	}
	return reply
}

// execLocked runs one command: the values of its Ack, or a Nak's error code. One data byte
// sets, none reads.
func (s *Sim) execLocked(cmd byte, data []byte) ([]byte, byte) {
	st := &s.state
	set := len(data) == 1
	if len(data) > 1 || (cmd == CmdStatus && set) {
		return nil, ErrUnknown
	}
	switch cmd {
	case CmdStatus:
		const aspect16x9 = 0x10
		return []byte{bit(st.Power), byte(st.Volume), bit(st.Mute), st.Input, aspect16x9, 0, 0}, 0
	case CmdPower:
		return flag(&st.Power, data)
	case CmdPanel:
		return flag(&st.PanelOff, data)
	case CmdVolume, CmdMute, CmdInput:
		if set && !st.Power {
			return nil, ErrPoweredOff
		}
	default:
		return nil, ErrUnknown
	}
	switch {
	case cmd == CmdMute:
		return flag(&st.Mute, data)
	case !set:
	case cmd == CmdVolume && data[0] <= 100:
		st.Volume = int(data[0])
	case cmd == CmdInput && slices.Contains(sources, data[0]):
		st.Input = data[0]
	default:
		return nil, ErrRange
	}
	if cmd == CmdVolume {
		return []byte{byte(st.Volume)}, 0
	}
	return []byte{st.Input}, 0
}

// flag reads or sets an on/off value (0 or 1).
func flag(f *bool, data []byte) ([]byte, byte) {
	if len(data) == 1 {
		if data[0] > 1 {
			return nil, ErrRange
		}
		*f = data[0] == 1
	}
	return []byte{bit(*f)}, 0
}

// frame builds an answer: header, 0xFF, id, length, 'A' or 'N', command, values, checksum.
func frame(id, status, cmd byte, values ...byte) []byte {
	f := append([]byte{header, replyMark, id, byte(2 + len(values)), status, cmd}, values...)
	return append(f, sum(f[1:]))
}

// sum is the checksum, written again rather than shared with the driver so that the
// simulator checks the driver's frames on its own.
func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}
