package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/metrics"
)

// Defaults for Config's zero values.
const (
	// DefaultAddr is loopback: a node is exposed beyond its host only by choice.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultMaxBodyBytes bounds request bodies. Large enough for bulk arguments (a multi-MiB
	// blob for a driver) yet small enough that a hostile client cannot exhaust memory.
	DefaultMaxBodyBytes = 8 << 20
)

// MetricsPath serves the Prometheus metrics.
const MetricsPath = "/metrics"

// Base paths of the two route families.
const (
	ClientBase = httpwire.ClientBase
	NodeBase   = httpwire.NodeBase
)

// Config configures a Server. Zero values take the defaults above.
type Config struct {
	Logger hclog.Logger
	// Engine, Node and Auth are required.
	Engine Engine
	Node   Node
	Auth   Authenticator
	// Models serves the management API; nil disables it.
	Models Models
	// Watcher serves WebSocket binds; nil answers binds with an error.
	Watcher Watcher

	// Addr is the listen address for Start. Under --auth none only loopback is served.
	Addr string
	// MaxBodyBytes limits every request body; a larger one gets 413.
	MaxBodyBytes int64

	// Authority is served at GET /auth/authority; zero fields take defaults.
	Authority Authority
	// WebSocket tuning; zero values take the WS* defaults.
	WSQueueSize       int           // outgoing messages a session may have queued
	WSPongInterval    time.Duration // unsolicited text "pong" to every session
	WSMaxMessageBytes int64         // largest request frame
	WSMaxInFlight     int           // concurrent execs per session

	// Metrics records WebSocket sessions, bindings and slow-client disconnects, and is served at
	// GET /metrics (MetricsPath) to any authenticated caller; nil records nothing and leaves the
	// route out.
	Metrics *metrics.Metrics

	// AllowedOrigins are the browser origins besides the node's own whose pages may send
	// cookie-authenticated writes and WebSocket upgrades (--allowed-origins, ParseOrigins).
	AllowedOrigins Origins
}

// Server is the engine's HTTP front door.
type Server struct {
	cfg     Config
	log     hclog.Logger
	handler http.Handler
	ws      wsRegistry

	mu    sync.Mutex
	srv   *http.Server
	ln    net.Listener
	serve sync.WaitGroup
}

// New builds a Server; it starts nothing until Start.
func New(cfg Config) *Server {
	if cfg.Engine == nil || cfg.Node == nil || cfg.Auth == nil {
		panic("httpapi: Config.Engine, Config.Node and Config.Auth are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	cfg.wsDefaults()
	cfg.Authority = cfg.Authority.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger.Named("http")}
	s.ws.sessions = map[*wsSession]struct{}{}
	s.handler = s.middleware(s.routes())
	return s
}

// Handler is the whole API with its middleware, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// routes registers every route. Within a path shape gorilla/mux takes the first match, so static
// segments (control, types, functions) must be registered before the {slug} routes they would
// otherwise be swallowed by.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errkind.Wrap(ErrRouteNotFound, nil, "no route for %s %s", r.Method, r.URL.Path), call.Target{})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errkind.Wrap(ErrMethodNotAllowed, nil, "method %s not allowed on %s", r.Method, r.URL.Path), call.Target{})
	})

	// Full paths on the root router rather than PathPrefix subrouters: gorilla/mux answers 404
	// instead of 405 for a wrong method on a subrouter route.
	handle := func(method, path string, h http.HandlerFunc) {
		methods := []string{method}
		if method == http.MethodGet {
			methods = append(methods, http.MethodHead) // probes and curl -I
		}
		r.HandleFunc(path, h).Methods(methods...)
	}
	handle(http.MethodGet, "/", s.handleRoot)

	c := ClientBase
	handle(http.MethodGet, AuthorityPath, s.handleAuthority)
	handle(http.MethodGet, OpenAPIPath, s.handleOpenAPI)
	handle(http.MethodGet, c+"/cluster", s.handleCluster)
	handle(http.MethodGet, c+"/systems/control", s.handleControl)
	handle(http.MethodGet, c+"/systems/{sys}/types", s.handleTypes)
	handle(http.MethodGet, c+"/systems/{sys}/functions/{slug}", s.handleFunctions)
	handle(http.MethodGet, c+"/systems/{sys}/{slug}", s.handleSystemState)
	handle(http.MethodGet, c+"/systems/{sys}/{slug}/{status}", s.handleSystemStatus)
	handle(http.MethodPost, c+"/systems/{sys}/{slug}/{fn}", s.handleSystemExec)
	handle(http.MethodPost, c+"/modules/{id}/exec/{fn}", s.handleModuleExec)
	handle(http.MethodGet, c+"/modules/{id}/state", s.handleModuleState)
	handle(http.MethodGet, c+"/modules/{id}/state/{status}", s.handleModuleStatus)
	handle(http.MethodPost, c+"/modules/{id}/start", s.handleModuleStart)
	handle(http.MethodPost, c+"/modules/{id}/stop", s.handleModuleStop)

	n := NodeBase
	handle(http.MethodGet, n+"/ready", s.handleReady)
	handle(http.MethodGet, n+"/status", s.handleNodeStatus)
	handle(http.MethodGet, n+"/status/loaded", s.handleLoaded)
	handle(http.MethodGet, n+"/status/driver", s.handleDriverStatus)
	handle(http.MethodPost, n+"/chaos/terminate", s.RequireClearance(auth.ClearanceAdmin, s.handleChaosTerminate))
	if s.cfg.Metrics != nil {
		// Behind authentication like every other GET: a scraper sends an API key (X-API-Key or
		// Authorization: Bearer). Under --auth none it is open, as everything is.
		mh := s.cfg.Metrics.Handler()
		handle(http.MethodGet, MetricsPath, mh.ServeHTTP)
	}
	s.manageRoutes(handle) // last: GET /systems/{id} would swallow static routes like /systems/control
	return r
}

// Start listens on Config.Addr and serves in the background until Close.
func (s *Server) Start() error {
	if s.cfg.Auth.Disabled() {
		if err := LoopbackOnly(s.cfg.Addr); err != nil {
			return err
		}
	}
	if s.cfg.Auth.Disabled() {
		s.log.Warn("AUTHENTICATION IS OFF (--auth none): every caller is an admin; serving on loopback only", "addr", s.cfg.Addr)
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ln)
}

// Serve serves on ln in the background until Close. The caller hands over ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = ln.Close()
		return errors.New("httpapi: server already started")
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		// No WriteTimeout: executes have their own deadline and WebSocket streams live long.
	}
	srv := s.srv
	s.serve.Add(1)
	go func() {
		defer s.serve.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "error", err)
		}
	}()
	s.log.Info("listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address being served, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops accepting, lets in-flight requests finish until ctx ends (then drops them), closes
// every WebSocket session (Shutdown does not track hijacked connections) and waits for the
// serving goroutine.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	defer s.closeSessions()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	s.serve.Wait()
	return err
}

// LoopbackOnly refuses a listen address beyond loopback: with --auth none every caller is an
// admin, so only this host may reach the API.
func LoopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("http address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("http address %q is not loopback: with --auth none every caller is an admin, so only loopback is served", addr)
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpwire.WriteJSON(w, status, v) }

func writeRaw(w http.ResponseWriter, status int, body []byte) { httpwire.WriteRaw(w, status, body) }
