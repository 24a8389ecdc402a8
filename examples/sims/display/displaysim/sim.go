package displaysim

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/examples/simtcp"
)

// State is the display's state.
type State struct {
	Power  bool
	Input  string
	Volume int
}

// Sim is a running simulator. Start, Addr, Port, Connections, DropConnections and Close are
// its TCP server's.
type Sim struct {
	*simtcp.Server

	mu       sync.Mutex
	state    State
	delay    time.Duration
	commands []string
}

// New listens on addr ("127.0.0.1:0" for a free port) with the display off, on HDMI1, volume 30.
func New(addr string) (*Sim, error) {
	s := &Sim{state: State{Input: "HDMI1", Volume: 30}}
	srv, err := simtcp.Listen(addr, s.serve)
	if err != nil {
		return nil, fmt.Errorf("displaysim: %w", err)
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

// Commands returns every command line received so far.
func (s *Sim) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// SetDelay makes every answer wait d (a slow device).
func (s *Sim) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// SetPower changes power from the front panel and tells every client.
func (s *Sim) SetPower(on bool) { s.change(func(st *State) { st.Power = on }) }

// SetInput changes the input from the front panel and tells every client.
func (s *Sim) SetInput(in string) { s.change(func(st *State) { st.Input = strings.ToUpper(in) }) }

// SetVolume changes the volume from the front panel and tells every client.
func (s *Sim) SetVolume(v int) { s.change(func(st *State) { st.Volume = v }) }

func (s *Sim) change(f func(*State)) {
	s.mu.Lock()
	before := s.state
	f(&s.state)
	after := s.state
	s.mu.Unlock()
	var lines []string
	if before.Power != after.Power {
		lines = append(lines, powerLine(after.Power))
	}
	if before.Input != after.Input {
		lines = append(lines, "INPUT "+after.Input)
	}
	if before.Volume != after.Volume {
		lines = append(lines, "VOLUME "+strconv.Itoa(after.Volume))
	}
	for _, c := range s.Conns() {
		for _, l := range lines {
			_, _ = c.Write([]byte(l + "\r\n"))
		}
	}
}

func (s *Sim) serve(c net.Conn) {
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		reply, reboot := s.handle(line)
		s.mu.Lock()
		delay := s.delay
		s.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay) // the simulated device is slow on purpose
		}
		if _, err := c.Write([]byte(reply + "\r\n")); err != nil {
			return
		}
		if reboot {
			s.DropConnections()
			return
		}
	}
}

func (s *Sim) handle(line string) (reply string, reboot bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, line)
	cmd, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToUpper(cmd) {
	case "POWER":
		switch strings.ToUpper(arg) {
		case "ON":
			s.state.Power = true
		case "OFF":
			s.state.Power = false
		default:
			return "ERR power must be ON or OFF", false
		}
		return powerLine(s.state.Power), false
	case "INPUT":
		if arg == "" {
			return "ERR input name missing", false
		}
		s.state.Input = strings.ToUpper(arg)
		return "INPUT " + s.state.Input, false
	case "VOLUME":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 || n > 100 {
			return "ERR volume must be 0-100", false
		}
		s.state.Volume = n
		return "VOLUME " + strconv.Itoa(n), false
	case "STATUS?":
		on := "OFF"
		if s.state.Power {
			on = "ON"
		}
		return fmt.Sprintf("STATUS POWER=%s INPUT=%s VOLUME=%d", on, s.state.Input, s.state.Volume), false
	case "REBOOT":
		return "REBOOT OK", true
	}
	return "ERR unknown command " + cmd, false
}

func powerLine(on bool) string {
	if on {
		return "POWER ON"
	}
	return "POWER OFF"
}
