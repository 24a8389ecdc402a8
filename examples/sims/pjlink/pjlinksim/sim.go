package pjlinksim

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/md5" //nolint:gosec // PJLink's authentication is MD5 by specification
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/examples/simtcp"
)

// Power states as PJLink reports them.
const (
	Off     = 0
	On      = 1
	Cooling = 2
	Warming = 3
)

// maxLine is the longest command PJLink allows (136 bytes with the digest and the CR).
const maxLine = 136

// Options configure the projector. Zero values take the defaults in brackets.
type Options struct {
	Password string        // authentication on with this password ["": off, "PJLINK 0"]
	WarmUp   time.Duration // how long "warming up" lasts after POWR 1 [0: on at once]
	CoolDown time.Duration // how long "cooling down" lasts after POWR 0 [0: off at once]
	// IdleTimeout closes a connection that has sent nothing for this long, as projectors do
	// after 30 s [0: never]. It runs on the wall clock.
	IdleTimeout time.Duration
	// Now is the projector's clock for warm-up and cool-down [time.Now]; a test passes its
	// virtual clock's Now.
	Now func() time.Time
	// Random makes the 8-character random of an authenticated greeting [crypto/rand, hex].
	Random func() string
	Name   string // answer to NAME ? ["Boardroom projector"]
	Maker  string // answer to INF1 ? ["EngineSim"]
	Model  string // answer to INF2 ? ["PJ-1"]
	Inputs []int  // the inputs INST ? lists and INPT accepts [11 12 31 32]
}

// State is what the projector is doing.
type State struct {
	Power     int // Off, On, Cooling or Warming
	Input     int
	VideoMute bool
	AudioMute bool
	LampHours int
	Errors    string // six digits, as ERST ? answers
}

// Sim is a running projector.
type Sim struct {
	*simtcp.Server
	o Options

	mu      sync.Mutex
	state   State
	changed time.Time // when the last power change started
	fault   bool
}

// New listens on addr ("127.0.0.1:0" for a free port) with the projector off on input 31
// (DIGITAL 1), unmuted, its lamp at 1200 hours, and no errors. Start serves it; Addr, Port,
// Connections, DropConnections and Close are its TCP server's.
func New(addr string, o Options) (*Sim, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Random == nil {
		o.Random = func() string {
			b := make([]byte, 4)
			_, _ = rand.Read(b)
			return hex.EncodeToString(b)
		}
	}
	o.Name = cmp.Or(o.Name, "Boardroom projector")
	o.Maker = cmp.Or(o.Maker, "EngineSim")
	o.Model = cmp.Or(o.Model, "PJ-1")
	if len(o.Inputs) == 0 {
		o.Inputs = []int{11, 12, 31, 32}
	}
	s := &Sim{o: o, state: State{Input: 31, LampHours: 1200, Errors: "000000"}}
	srv, err := simtcp.Listen(addr, s.serve)
	if err != nil {
		return nil, fmt.Errorf("pjlinksim: %w", err)
	}
	s.Server = srv
	return s, nil
}

// State returns the projector's state now.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	return s.state
}

// SetFault makes the projector fail (ERR4 to power on, "2" for "other" in ERST ?) or recover.
func (s *Sim) SetFault(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = on
	other := "0"
	if on {
		other = "2"
	}
	s.state.Errors = s.state.Errors[:5] + other
}

// SetLampHours sets the lamp's hours.
func (s *Sim) SetLampHours(h int) {
	s.mu.Lock()
	s.state.LampHours = h
	s.mu.Unlock()
}

func (s *Sim) serve(c net.Conn) {
	digest := ""
	greeting := "PJLINK 0"
	if s.o.Password != "" {
		random := s.o.Random()
		sum := md5.Sum([]byte(random + s.o.Password)) //nolint:gosec // by specification
		digest = hex.EncodeToString(sum[:])
		greeting = "PJLINK 1 " + random
	}
	if _, err := c.Write([]byte(greeting + "\r")); err != nil {
		return
	}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, maxLine), maxLine)
	sc.Split(splitCR)
	for {
		if s.o.IdleTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
		}
		if !sc.Scan() {
			return
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if digest != "" {
			// Only the first command of a connection carries the digest.
			got, rest, ok := cutDigest(line)
			if !ok || got != digest {
				_, _ = c.Write([]byte("PJLINK ERRA\r"))
				return
			}
			line, digest = rest, ""
		}
		if reply := s.handle(line); reply != "" {
			if _, err := c.Write([]byte(reply + "\r")); err != nil {
				return
			}
		}
	}
}

func cutDigest(line string) (digest, rest string, ok bool) {
	if len(line) < 32 {
		return "", line, false
	}
	return line[:32], line[32:], true
}

// splitCR splits on CR; a controller that ends lines in CRLF leaves an LF that is trimmed.
func splitCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\r'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// handle answers one command line ("%1POWR 1"); a line that is no command gets no answer.
func (s *Sim) handle(line string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settleLocked()
	if len(line) < 7 || line[:2] != "%1" || line[6] != ' ' {
		if len(line) >= 6 && line[0] == '%' {
			return line[:6] + "=ERR1" // another class, or no parameter
		}
		return ""
	}
	body, param := strings.ToUpper(line[2:6]), strings.TrimSpace(line[7:])
	return "%1" + body + "=" + s.answerLocked(body, param)
}

func (s *Sim) answerLocked(body, param string) string {
	st := &s.state
	if param == "?" {
		switch body {
		case "POWR":
			return strconv.Itoa(st.Power)
		case "INPT":
			if st.Power != On {
				return "ERR3"
			}
			return strconv.Itoa(st.Input)
		case "AVMT":
			if st.Power != On {
				return "ERR3"
			}
			return muteCode(st.VideoMute, st.AudioMute)
		case "ERST":
			return st.Errors
		case "LAMP":
			lit := 0
			if st.Power == On || st.Power == Warming {
				lit = 1
			}
			return fmt.Sprintf("%d %d", st.LampHours, lit)
		case "INST":
			codes := make([]string, len(s.o.Inputs))
			for i, in := range s.o.Inputs {
				codes[i] = strconv.Itoa(in)
			}
			return strings.Join(codes, " ")
		case "NAME":
			return s.o.Name
		case "INF1":
			return s.o.Maker
		case "INF2":
			return s.o.Model
		case "CLSS":
			return "1"
		}
		return "ERR1"
	}
	switch body {
	case "POWR":
		return s.powerLocked(param)
	case "INPT":
		n, err := strconv.Atoi(param)
		if err != nil || !slices.Contains(s.o.Inputs, n) {
			return "ERR2"
		}
		if st.Power != On {
			return "ERR3"
		}
		st.Input = n
		return "OK"
	case "AVMT":
		return s.muteLocked(param)
	case "ERST", "LAMP", "INST", "NAME", "INF1", "INF2", "CLSS":
		return "ERR2" // queries only
	}
	return "ERR1"
}

func (s *Sim) powerLocked(param string) string {
	st := &s.state
	switch param {
	case "1":
		switch {
		case s.fault:
			return "ERR4"
		case st.Power == Cooling:
			return "ERR3"
		case st.Power == Off:
			st.Power, s.changed = Warming, s.o.Now()
			s.settleLocked()
		}
		return "OK"
	case "0":
		switch st.Power {
		case Warming:
			return "ERR3"
		case On:
			st.Power, s.changed = Cooling, s.o.Now()
			st.VideoMute, st.AudioMute = false, false
			s.settleLocked()
		}
		return "OK"
	}
	return "ERR2"
}

func (s *Sim) muteLocked(param string) string {
	if len(param) != 2 || (param[1] != '0' && param[1] != '1') {
		return "ERR2"
	}
	video, audio := param[0] == '1' || param[0] == '3', param[0] == '2' || param[0] == '3'
	switch {
	case !video && !audio:
		return "ERR2"
	case s.state.Power != On:
		return "ERR3"
	}
	on := param[1] == '1'
	if video {
		s.state.VideoMute = on
	}
	if audio {
		s.state.AudioMute = on
	}
	return "OK"
}

// muteCode is the AVMT ? answer: the muted signals and 1, or 30 when nothing is muted.
func muteCode(video, audio bool) string {
	switch {
	case video && audio:
		return "31"
	case video:
		return "11"
	case audio:
		return "21"
	}
	return "30"
}

// settleLocked ends a warm-up or cool-down whose time has passed.
func (s *Sim) settleLocked() {
	now := s.o.Now()
	switch {
	case s.state.Power == Warming && !now.Before(s.changed.Add(s.o.WarmUp)):
		s.state.Power = On
	case s.state.Power == Cooling && !now.Before(s.changed.Add(s.o.CoolDown)):
		s.state.Power = Off
	}
}
