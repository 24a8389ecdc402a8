package lightingsim

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
)

// Zone is one lighting zone.
type Zone struct {
	ID    string `json:"id"`
	Level int    `json:"level"`
	On    bool   `json:"on"`
}

// Sim is a running gateway.
type Sim struct {
	srv      *http.Server
	ln       net.Listener
	password string

	mu       sync.Mutex
	zones    map[string]*Zone
	requests int
	fail     int // answer every request with this status when non-zero
}

// New listens on addr ("127.0.0.1:0" for a free port) with zones 1-4 off.
func New(addr, password string) (*Sim, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sim{ln: ln, password: password, zones: map[string]*Zone{}}
	for _, id := range []string{"1", "2", "3", "4"} {
		s.zones[id] = &Zone{ID: id}
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the gateway's base URL.
func (s *Sim) URL() string { return "http://" + s.ln.Addr().String() }

// Zone returns a copy of a zone.
func (s *Sim) Zone(id string) Zone {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zones[id]; z != nil {
		return *z
	}
	return Zone{}
}

// SetLevel changes a zone from the wall panel.
func (s *Sim) SetLevel(id string, level int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if z := s.zones[id]; z != nil {
		z.Level, z.On = level, level > 0
	}
}

// Requests is the number of requests served.
func (s *Sim) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Fail makes the gateway answer every request with status code (503: overloaded), until
// Fail(0).
func (s *Sim) Fail(code int) {
	s.mu.Lock()
	s.fail = code
	s.mu.Unlock()
}

// Close stops the gateway.
func (s *Sim) Close() error { return s.srv.Close() }

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	fail := s.fail
	s.mu.Unlock()
	if fail != 0 {
		http.Error(w, `{"error":"gateway failure"}`, fail)
		return
	}
	if s.password != "" {
		if _, pw, ok := r.BasicAuth(); !ok || pw != s.password {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
	}
	id, ok := strings.CutPrefix(r.URL.Path, "/api/zones/")
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zones[id]
	if !ok || z == nil {
		http.Error(w, `{"error":"no such zone"}`, http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut:
		var in struct {
			Level *int  `json:"level"`
			On    *bool `json:"on"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || (in.Level != nil && (*in.Level < 0 || *in.Level > 100)) {
			http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
			return
		}
		if in.Level != nil {
			z.Level, z.On = *in.Level, *in.Level > 0
		}
		if in.On != nil {
			z.On = *in.On
			if z.On && z.Level == 0 {
				z.Level = 100
			}
		}
	default:
		http.Error(w, `{"error":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(z)
}
