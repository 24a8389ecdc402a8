package extronsim

import (
	"bufio"
	"cmp"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/examples/simtcp"
)

// Options configure the switcher. Zero values take the defaults in brackets.
type Options struct {
	Inputs   int    // [8]
	Outputs  int    // [4]
	Model    string // in the banner ["DXP 84 HDMI"]
	Password string // asked for after the banner ["": none]
	// IdleTimeout closes a connection that has sent nothing for this long, as the switcher's
	// telnet timeout does [0: never]. It runs on the wall clock.
	IdleTimeout time.Duration
	// Now is the switcher's clock, for the banner's date [time.Now].
	Now func() time.Time
}

// MaxVolume is the highest volume step.
const MaxVolume = 64

// Layer names as SIS answers them, by tie symbol.
var layers = map[byte]string{'!': "All", '%': "Vid", '&': "RGB", '$': "Aud"}

// State is the switcher's state; slices are indexed by output - 1.
type State struct {
	Video     []int // input on each output's video, 0 for none
	Audio     []int
	Volume    []int
	AudioMute []bool
	VideoMute []bool
}

// Sim is a running switcher.
type Sim struct {
	*simtcp.Server
	o Options

	mu      sync.Mutex
	state   State
	busy    bool
	verbose map[net.Conn]int
}

// New listens on addr ("127.0.0.1:0" for a free port) with input 1 tied to output 1 and
// nothing else, volumes at 48 and nothing muted. Start serves it; Addr, Port, Connections,
// DropConnections and Close are its TCP server's.
func New(addr string, o Options) (*Sim, error) {
	o.Inputs, o.Outputs = cmp.Or(o.Inputs, 8), cmp.Or(o.Outputs, 4)
	o.Model = cmp.Or(o.Model, "DXP 84 HDMI")
	if o.Now == nil {
		o.Now = time.Now
	}
	n := o.Outputs
	st := State{Video: make([]int, n), Audio: make([]int, n), Volume: make([]int, n), AudioMute: make([]bool, n), VideoMute: make([]bool, n)}
	st.Video[0], st.Audio[0] = 1, 1
	for i := range st.Volume {
		st.Volume[i] = 48
	}
	s := &Sim{o: o, state: st, verbose: map[net.Conn]int{}}
	srv, err := simtcp.Listen(addr, s.serve)
	if err != nil {
		return nil, fmt.Errorf("extronsim: %w", err)
	}
	s.Server = srv
	return s, nil
}

// State returns a copy of the switcher's state.
func (s *Sim) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	st.Video, st.Audio, st.Volume = slices.Clone(st.Video), slices.Clone(st.Audio), slices.Clone(st.Volume)
	st.AudioMute, st.VideoMute = slices.Clone(st.AudioMute), slices.Clone(st.VideoMute)
	return st
}

// SetBusy makes the switcher answer every command E22 (busy), or stop doing so.
func (s *Sim) SetBusy(on bool) {
	s.mu.Lock()
	s.busy = on
	s.mu.Unlock()
}

// Tie ties input to output at the front panel (layer '!', '%' or '$') and announces it to the
// connections in verbose mode 1 or 3.
func (s *Sim) Tie(input, output int, layer byte) {
	s.mu.Lock()
	line := s.tieLocked(input, output, layer)
	var to []net.Conn
	for c, mode := range s.verbose {
		if mode == 1 || mode == 3 {
			to = append(to, c)
		}
	}
	s.mu.Unlock()
	for _, c := range to {
		_, _ = c.Write([]byte(line + "\r\n"))
	}
}

func (s *Sim) serve(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.verbose, c)
		s.mu.Unlock()
	}()
	banner := fmt.Sprintf("(c) Copyright %d, Extron Electronics, %s, V1.02, 60-1094-01\r\n%s\r\n",
		s.o.Now().Year(), s.o.Model, s.o.Now().Format("Mon, 02 Jan 2006 15:04:05"))
	if _, err := c.Write([]byte(banner)); err != nil {
		return
	}
	r := bufio.NewReader(c)
	if s.o.Password != "" && !s.login(c, r) {
		return
	}
	s.mu.Lock()
	s.verbose[c] = 0
	s.mu.Unlock()
	for {
		cmd, err := s.next(c, r)
		if err != nil {
			return
		}
		if cmd == "" {
			continue
		}
		if _, err := c.Write([]byte(s.handle(c, cmd) + "\r\n")); err != nil {
			return
		}
	}
}

// login prompts until the password comes, and reports whether it did.
func (s *Sim) login(c net.Conn, r *bufio.Reader) bool {
	for {
		if _, err := c.Write([]byte("\r\nPassword:")); err != nil {
			return false
		}
		s.deadline(c)
		line, err := r.ReadString('\r')
		if err != nil {
			return false
		}
		if line[:len(line)-1] == s.o.Password {
			_, err := c.Write([]byte("\r\nLogin Administrator\r\n"))
			return err == nil
		}
	}
}

func (s *Sim) deadline(c net.Conn) {
	if s.o.IdleTimeout > 0 {
		_ = c.SetReadDeadline(time.Now().Add(s.o.IdleTimeout))
	}
}

// next reads one command. SIS commands need no terminator: a command ends with its first
// character that is no digit, '*', '+' or '-' ("1*2!", "I"), except an Esc command, which runs
// to CR. Line ends and spaces between commands are skipped ("").
func (s *Sim) next(c net.Conn, r *bufio.Reader) (string, error) {
	s.deadline(c)
	var cmd []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return "", err
		}
		switch {
		case len(cmd) == 0 && (b == '\r' || b == '\n' || b == ' '):
			return "", nil
		case len(cmd) == 0 && (b == 0x1B || b == 'W' || b == 'w'):
			rest, err := r.ReadString('\r')
			if err != nil {
				return "", err
			}
			return "Esc" + rest[:len(rest)-1], nil
		}
		cmd = append(cmd, b)
		if (b < '0' || b > '9') && b != '*' && b != '+' && b != '-' {
			return string(cmd), nil
		}
	}
}

var (
	tieRe      = regexp.MustCompile(`^(\d+)\*(\d+)([!%&$])$`)
	tieAllRe   = regexp.MustCompile(`^(\d+)\*([!%&$])$`)
	readTieRe  = regexp.MustCompile(`^(\d+)([!%&$])$`)
	volumeRe   = regexp.MustCompile(`^(\d+)\*(\d+)[Vv]$`)
	readVolRe  = regexp.MustCompile(`^(\d+)[Vv]$`)
	muteRe     = regexp.MustCompile(`^(\d+)\*([01])([ZzBb])$`)
	readMuteRe = regexp.MustCompile(`^(\d+)([ZzBb])$`)
	verboseRe  = regexp.MustCompile(`^Esc([0-3])CV$`)
	quickRe    = regexp.MustCompile(`^Esc\+Q((?:\d+\*\d+[!%&$])+)$`)
	quickTieRe = regexp.MustCompile(`(\d+)\*(\d+)([!%&$])`)
)

// handle answers one command.
func (s *Sim) handle(c net.Conn, cmd string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy {
		return "E22"
	}
	switch cmd {
	case "I", "i":
		return fmt.Sprintf("V%dX%d A%dX%d", s.o.Inputs, s.o.Outputs, s.o.Inputs, s.o.Outputs)
	case "Q", "q":
		return "1.02"
	}
	if m := verboseRe.FindStringSubmatch(cmd); m != nil {
		s.verbose[c], _ = strconv.Atoi(m[1])
		return "Vrb" + m[1]
	}
	if m := quickRe.FindStringSubmatch(cmd); m != nil {
		ties := quickTieRe.FindAllStringSubmatch(m[1], -1)
		for _, t := range ties {
			if e := s.checkLocked(num(t[1]), num(t[2])); e != "" {
				return e
			}
		}
		for _, t := range ties {
			s.tieLocked(num(t[1]), num(t[2]), t[3][0])
		}
		return "Qik"
	}
	if m := tieRe.FindStringSubmatch(cmd); m != nil {
		in, out := num(m[1]), num(m[2])
		if e := s.checkLocked(in, out); e != "" {
			return e
		}
		return s.tieLocked(in, out, m[3][0])
	}
	if m := tieAllRe.FindStringSubmatch(cmd); m != nil {
		in := num(m[1])
		if e := s.checkLocked(in, 1); e != "" {
			return e
		}
		for out := 1; out <= s.o.Outputs; out++ {
			s.tieLocked(in, out, m[2][0])
		}
		return fmt.Sprintf("In%d %s", in, layers[m[2][0]])
	}
	return s.outputLocked(cmd)
}

// outputLocked answers the commands about one output: reads, volume and mutes.
func (s *Sim) outputLocked(cmd string) string {
	for _, oc := range outputCommands {
		if m := oc.re.FindStringSubmatch(cmd); m != nil {
			out := num(m[1])
			if e := s.checkLocked(0, out); e != "" {
				return e
			}
			return oc.answer(&s.state, out, m)
		}
	}
	return "E10"
}

// outputCommands are the commands about one output: m[1] is the output.
var outputCommands = []struct {
	re     *regexp.Regexp
	answer func(st *State, out int, m []string) string
}{
	{readTieRe, func(st *State, out int, m []string) string {
		if m[2] == "$" {
			return strconv.Itoa(st.Audio[out-1])
		}
		return strconv.Itoa(st.Video[out-1])
	}},
	{volumeRe, func(st *State, out int, m []string) string {
		v := num(m[2])
		if v > MaxVolume {
			return "E13"
		}
		st.Volume[out-1] = v
		return fmt.Sprintf("Out%d Vol%d", out, v)
	}},
	{readVolRe, func(st *State, out int, _ []string) string { return strconv.Itoa(st.Volume[out-1]) }},
	{muteRe, func(st *State, out int, m []string) string {
		mutes, tag := st.mutes(m[3])
		mutes[out-1] = m[2] == "1"
		return fmt.Sprintf("%s%d*%s", tag, out, m[2])
	}},
	{readMuteRe, func(st *State, out int, m []string) string {
		if mutes, _ := st.mutes(m[2]); mutes[out-1] {
			return "1"
		}
		return "0"
	}},
}

// mutes are the audio (Z) or video (B) mutes, and the tag that answers a change of them.
func (st *State) mutes(letter string) ([]bool, string) {
	if strings.EqualFold(letter, "z") {
		return st.AudioMute, "Amt"
	}
	return st.VideoMute, "Vmt"
}

func (s *Sim) checkLocked(in, out int) string {
	switch {
	case in < 0 || in > s.o.Inputs:
		return "E01"
	case out < 1 || out > s.o.Outputs:
		return "E12"
	}
	return ""
}

// tieLocked ties in to out on a layer and returns the answer that reports it.
func (s *Sim) tieLocked(in, out int, layer byte) string {
	if layer != '$' {
		s.state.Video[out-1] = in
	}
	if layer == '!' || layer == '$' {
		s.state.Audio[out-1] = in
	}
	return fmt.Sprintf("Out%d In%d %s", out, in, layers[layer])
}

func num(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
