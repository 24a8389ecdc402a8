package simtcp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Server accepts TCP connections and hands each to a serve function.
type Server struct {
	ln    net.Listener
	serve func(net.Conn)

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup

	connLog  io.Writer // nil: connections are not logged
	connWhat string
}

// Listen listens on addr ("127.0.0.1:0" for a free port); Start begins serving. serve runs in its
// own goroutine per connection and the connection is closed when it returns.
func Listen(addr string, serve func(c net.Conn)) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return &Server{ln: ln, serve: serve, conns: map[net.Conn]struct{}{}}, nil
}

// Start accepts connections in the background until Close.
func (s *Server) Start() {
	s.wg.Add(1)
	go s.accept()
}

// LogConnections writes a line to w each time a client connects or goes, with the number still
// open, so that whoever runs the simulator by hand sees a device with two clients (one module
// running on two nodes at once) without a packet capture. Call it before Start.
func (s *Server) LogConnections(w io.Writer, what string) {
	s.connLog, s.connWhat = w, what
}

// logConn writes one connection line when LogConnections asked for them.
func (s *Server) logConn(c net.Conn, event string, open int) {
	if s.connLog == nil {
		return
	}
	fmt.Fprintf(s.connLog, "%s %s %s: client %s %s (%d open)\n",
		time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), s.connWhat, s.Addr(), c.RemoteAddr(), event, open)
}

// Addr is the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Connections is the number of open client connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Conns returns the open client connections, e.g. to tell every client of a change.
func (s *Server) Conns() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// DropConnections closes every client connection (a device that reboots or a cable pulled).
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
}

// Close stops listening, closes every connection and waits for the serving goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
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
		open := len(s.conns)
		s.wg.Add(1)
		s.mu.Unlock()
		s.logConn(c, "connected", open)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				open := len(s.conns)
				s.mu.Unlock()
				_ = c.Close()
				s.logConn(c, "disconnected", open)
			}()
			s.serve(c)
		}()
	}
}
