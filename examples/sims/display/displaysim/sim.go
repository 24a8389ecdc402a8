package displaysim

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// State is the display's state.
type State struct {
	Power  bool
	Input  string
	Volume int
}

// Sim is a running simulator.
type Sim struct {
	ln net.Listener

	mu       sync.Mutex
	state    State
	delay    time.Duration
	conns    map[net.Conn]struct{}
	commands []string
	closed   bool

	wg sync.WaitGroup
}

// New listens on addr ("127.0.0.1:0" for a free port) with the display off, on HDMI1, volume 30.
func New(addr string) (*Sim, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("displaysim: listen %s: %w", addr, err)
	}
	return &Sim{ln: ln, state: State{Input: "HDMI1", Volume: 30}, conns: map[net.Conn]struct{}{}}, nil
}

// Start accepts connections in the background until Close.
func (s *Sim) Start() {
	s.wg.Add(1)
	go s.accept()
}

// Addr is the listening address.
func (s *Sim) Addr() string { return s.ln.Addr().String() }

// Port is the listening port.
func (s *Sim) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

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

// Connections is the number of open client connections.
func (s *Sim) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// SetDelay makes every answer wait d (a slow device).
func (s *Sim) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// DropConnections closes every client connection (a device that reboots or a cable pulled).
func (s *Sim) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
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
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
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
	for _, c := range conns {
		for _, l := range lines {
			_, _ = c.Write([]byte(l + "\r\n"))
		}
	}
}

// Close stops listening, closes every connection and waits for the simulator's goroutines.
func (s *Sim) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
	return err
}

func (s *Sim) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Sim) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
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
