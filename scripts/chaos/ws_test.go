package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// session is one WebSocket client bound to every display's volume through one node. Like a
// PlaceOS front-end it reconnects and rebinds when its connection breaks.
type session struct {
	l *load
	n *node

	mu       sync.Mutex
	last     map[int]string // bind id (= display index) → last notified value
	bound    map[int]bool   // binds acknowledged on the current connection
	connects int
	problems []string
}

func (s *session) run() {
	for s.l.ctx.Err() == nil {
		if s.n.avail.Load() {
			s.connect()
		}
		if !s.l.pause(100 * time.Millisecond) {
			return
		}
	}
}

type wsReply struct {
	ID    int             `json:"id"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
	Code  int             `json:"code"`
	Msg   string          `json:"msg"`
}

// connect runs one connection until it breaks or the load stops.
func (s *session) connect() {
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	conn, _, err := d.DialContext(s.l.ctx, "ws://"+s.n.HTTP+"/api/engine/v2/systems/control", nil)
	if err != nil {
		return
	}
	defer conn.Close()
	// Closing the socket is the only way to end a blocked read when the load stops.
	stop := context.AfterFunc(s.l.ctx, func() { _ = conn.Close() })
	defer stop()
	s.mu.Lock()
	s.connects++
	s.bound = map[int]bool{}
	s.mu.Unlock()
	for k := 1; k <= displays; k++ {
		req := fmt.Sprintf(`{"id": %d, "cmd": "bind", "sys": %q, "mod": "Display", "index": %d, "name": "volume"}`, k, systemID, k)
		if conn.SetWriteDeadline(time.Now().Add(3*time.Second)) != nil || conn.WriteMessage(websocket.TextMessage, []byte(req)) != nil {
			return
		}
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			s.mu.Lock()
			s.bound = map[int]bool{}
			s.mu.Unlock()
			return
		}
		if string(data) == "pong" {
			continue // the server's unsolicited heartbeat (PlaceOS does the same)
		}
		var r wsReply
		if err := json.Unmarshal(data, &r); err != nil {
			s.problem("reply %q via %s does not parse: %v", data, s.n.ID, err)
			continue
		}
		s.mu.Lock()
		switch r.Type {
		case "success":
			s.bound[r.ID] = true
		case "notify":
			var v bytes.Buffer
			if json.Compact(&v, r.Value) == nil {
				s.last[r.ID] = v.String()
			}
		case "error":
			s.mu.Unlock()
			s.problem("bind %d via %s answered error %d %s", r.ID, s.n.ID, r.Code, r.Msg)
			continue
		}
		s.mu.Unlock()
	}
}

func (s *session) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.problems) < maxExamples {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *session) boundAll() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bound) == displays
}

func (s *session) value(k int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[k]
}

// volumeSeq picks the volumes the binding check sets; each differs from the display's last one.
var volumeSeq = 40

// checkBindings changes every display's volume and waits until every session on an available
// node has seen the notify. It returns how long that took, or what did not arrive.
func (l *load) checkBindings(target time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(target)
	var active []*session
	for _, s := range l.sessions {
		if s.n.avail.Load() {
			active = append(active, s)
		}
	}
	for _, s := range active {
		if err := l.c.until(time.Until(deadline), "session via "+s.n.ID+" bound", s.boundAll); err != nil {
			s.mu.Lock()
			connects := s.connects
			s.mu.Unlock()
			return 0, fmt.Errorf("WebSocket session via %s not bound again within %s (%d connects)", s.n.ID, target, connects)
		}
	}
	for k := 1; k <= displays; k++ {
		volumeSeq++
		v := fmt.Sprint(volumeSeq%100 + 1)
		slug := fmt.Sprintf("Display_%d", k)
		var last string
		err := l.c.until(time.Until(deadline), slug+" volume set", func() bool {
			for _, n := range l.c.live() {
				resp, err := n.Request(l.ctx, http.MethodPost, fmt.Sprintf("/api/engine/v2/systems/%s/%s/volume", systemID, slug), "["+v+"]", 3*time.Second)
				if err == nil && resp.Status == 200 {
					return true
				}
				last = fmt.Sprintf("via %s: %d %s %v", n.ID, resp.Status, trim(resp.Body), err)
			}
			return false
		})
		if err != nil {
			return 0, fmt.Errorf("%s volume(%s) not answered within %s; last: %s", slug, v, target, last)
		}
		for _, s := range active {
			if err := l.c.until(time.Until(deadline), "notify", func() bool { return s.value(k) == v }); err != nil {
				return 0, fmt.Errorf("session via %s: no notify of %s volume %s within %s (last value %q)", s.n.ID, slug, v, target, s.value(k))
			}
		}
	}
	return time.Since(start), nil
}
