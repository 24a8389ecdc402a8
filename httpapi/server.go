package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/console"
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
	// DefaultReadTimeout bounds reading a whole request, body included: a client trickling its
	// body cannot hold a connection longer (8 MiB in 30 s is about 280 KB/s).
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a response from the start of its request: the default
	// --exec-timeout (60 s) plus a minute for start/stop waits, pulls and builds.
	DefaultWriteTimeout = 2 * time.Minute
	// DefaultIdleTimeout closes a keep-alive connection that sends no new request.
	DefaultIdleTimeout = 2 * time.Minute
	// readHeaderTimeout bounds the request line and headers (a slowloris client).
	readHeaderTimeout = 10 * time.Second
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
	// TLS, when set, serves HTTPS (--http-tls-cert, --http-tls-key).
	TLS *tls.Config
	// MaxBodyBytes limits every request body; a larger one gets 413.
	MaxBodyBytes int64

	// Connection limits of the listener (docs/protocol.md §6.1). MaxConns bounds open connections,
	// WebSocket sessions included (zero: DefaultMaxConns), lowered to fit the open-files limit;
	// MaxConnsPerIP bounds one remote address, an IPv6 /64 (zero: half of MaxConns).
	MaxConns      int
	MaxConnsPerIP int
	// Timeouts (zero: the Default* above). ReadTimeout bounds reading a request, body included;
	// a WebSocket is no longer subject to it once upgraded. WriteTimeout bounds each response from
	// the start of its request (WebSocket frames have their own). IdleTimeout closes a keep-alive
	// connection without a request.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration

	// Authority is served at GET /auth/authority; zero fields take defaults.
	Authority Authority
	// WebSocket tuning; zero values take the WS* defaults.
	WSQueueSize       int           // outgoing messages a session may have queued
	WSQueueBytes      int           // and their bytes (one larger message may wait besides)
	WSPongInterval    time.Duration // unsolicited text "pong" to every session
	WSMaxMessageBytes int64         // largest request frame
	WSMaxInFlight     int           // concurrent execs per session
	// WebSocket limits (docs/protocol.md §7.7); zero values take the WS* defaults.
	WSMaxBinds           int // bindings per session; past it a bind is refused (429)
	WSMaxDebugs          int // debug streams per session; past it a debug is refused (429)
	WSMaxSessionsPerUser int // sessions per user id (not under --auth none); past it an upgrade is refused (429)
	WSMaxSessions        int // sessions on this node; past it an upgrade is refused (429)

	// Metrics records WebSocket sessions, bindings and slow-client disconnects, and is served at
	// GET /metrics (MetricsPath) to any authenticated caller; nil records nothing and leaves the
	// route out.
	Metrics *metrics.Metrics

	// Console, when set, serves the operator console at /console (package console).
	Console *console.Handler

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
	// limitLog spaces out the log lines of refusals by a WebSocket limit.
	limitLog every
	// hostLog spaces out the log lines of requests refused by the rebinding guard (checkHost).
	hostLog every

	// base is every request's and WebSocket session's context; stop cancels it with
	// ErrShuttingDown when Close's drain period ends, so what is still in flight is answered 503.
	base context.Context
	stop context.CancelCauseFunc

	mu      sync.Mutex
	srv     *http.Server
	ln      net.Listener
	accepts *httpwire.AcceptLog // the failed accepts of srv, rate-limited
	serve   sync.WaitGroup
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
	s := &Server{log: cfg.Logger.Named("http")}
	s.base, s.stop = context.WithCancelCause(context.Background())
	cfg.limitDefaults(s.log)
	cfg.wsDefaults()
	cfg.Authority = cfg.Authority.withDefaults()
	s.cfg = cfg
	s.ws.sessions = map[*wsSession]struct{}{}
	s.ws.perUser = map[string]int{}
	s.handler = s.middleware(s.routes())
	return s
}

func (c *Config) limitDefaults(log hclog.Logger) {
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = DefaultMaxConns
	}
	if budget := fdBudget(); budget > 0 && c.MaxConns > budget {
		log.Warn("connection limit lowered to fit the open-files limit (raise it with ulimit -n or LimitNOFILE=)",
			"max_conns", c.MaxConns, "lowered_to", budget)
		c.MaxConns = budget
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = max(c.MaxConns/2, 1)
	}
}

// Handler is the whole API with its middleware, for tests and for mounting elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// routes registers every route (httpwire.Router, on net/http's ServeMux): the most specific
// pattern wins, so static segments (control, types, functions) win over the {slug} and {id}
// routes whatever the order.
func (s *Server) routes() *httpwire.Router {
	r := httpwire.NewRouter(func(w http.ResponseWriter, r *http.Request, wrongMethod bool) {
		if wrongMethod {
			s.writeError(w, r, errkind.Wrap(ErrMethodNotAllowed, nil, "method %s not allowed on %s", r.Method, r.URL.Path), call.Target{})
			return
		}
		s.writeError(w, r, errkind.Wrap(ErrRouteNotFound, nil, "no route for %s %s", r.Method, r.URL.Path), call.Target{})
	})
	handle := r.Handle
	handle(http.MethodGet, "/", s.handleRoot)

	c := ClientBase
	handle(http.MethodGet, AuthorityPath, s.handleAuthority)
	handle(http.MethodGet, OpenAPIPath, s.handleOpenAPI)
	handle(http.MethodGet, c+"/cluster", s.handleDocument(s.cfg.Node.Cluster))
	handle(http.MethodGet, CurrentUserPath, s.handleCurrentUser)
	handle(http.MethodGet, c+"/systems/control", s.handleControl)
	handle(http.MethodGet, c+"/systems/{sys}/types", s.boundedPath(s.handleTypes))
	handle(http.MethodGet, c+"/systems/{sys}/functions/{slug}", s.boundedPath(s.handleFunctions))
	handle(http.MethodGet, c+"/systems/{sys}/{slug}", s.boundedPath(s.handleSystemState))
	handle(http.MethodGet, c+"/systems/{sys}/{slug}/{status}", s.boundedPath(s.handleSystemStatus))
	handle(http.MethodPost, c+"/systems/{sys}/{slug}/{fn}", s.boundedPath(s.handleSystemExec))
	handle(http.MethodPost, c+"/modules/{id}/exec/{fn}", s.boundedPath(s.handleModuleExec))
	handle(http.MethodGet, c+"/modules/{id}/state", s.boundedPath(s.handleModuleState))
	handle(http.MethodGet, c+"/modules/{id}/state/{status}", s.boundedPath(s.handleModuleStatus))
	handle(http.MethodPost, c+"/modules/{id}/start", s.boundedPath(s.handleModuleStart))
	handle(http.MethodPost, c+"/modules/{id}/stop", s.boundedPath(s.handleModuleStop))
	// Management compatibility with PlaceOS front-ends (docs/protocol.md §9).
	handle(http.MethodGet, c+"/systems/{sys}/zones", s.boundedPath(s.handleSystemZones))
	handle(http.MethodGet, c+"/systems/{sys}/settings", s.boundedPath(s.handleSystemSettings))
	handle(http.MethodPost, c+"/systems/{sys}/start", s.boundedPath(s.handleSystemStart))
	handle(http.MethodPost, c+"/systems/{sys}/stop", s.boundedPath(s.handleSystemStop))
	handle(http.MethodGet, c+"/modules/{id}/settings", s.boundedPath(s.handleModuleSettings))
	handle(http.MethodPost, c+"/modules/{id}/ping", s.boundedPath(s.handleModulePing))
	handle(http.MethodPost, c+"/modules/{id}/load", s.boundedPath(s.handleModuleLoad))

	n := NodeBase
	handle(http.MethodGet, n+"/ready", s.handleReady)
	handle(http.MethodGet, n+"/status", s.handleDocument(s.cfg.Node.NodeStatus))
	handle(http.MethodGet, n+"/status/loaded", s.handleLoaded)
	handle(http.MethodGet, n+"/status/driver", s.handleDriverStatus)
	handle(http.MethodGet, n+"/status/cluster", s.handleDocument(s.cfg.Node.ClusterStatus))
	handle(http.MethodPost, n+"/chaos/terminate", s.RequireClearance(auth.ClearanceAdmin, s.handleChaosTerminate))
	if s.cfg.Metrics != nil {
		// Behind authentication like every other GET: a scraper sends an API key (X-API-Key or
		// Authorization: Bearer). Under --auth none it is open, as everything is.
		mh := s.cfg.Metrics.Handler()
		handle(http.MethodGet, MetricsPath, mh.ServeHTTP)
	}
	s.manageRoutes(handle)
	s.consoleRoutes(handle)
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
	// The limits wrap the TCP listener itself; TLS goes on top of them, so that net/http still
	// sees a *tls.Conn (and a flood is counted before any handshake is paid for).
	ln = newConnLimiter(ln, s.cfg.MaxConns, s.cfg.MaxConnsPerIP, s.cfg.Metrics, s.log)
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln = ln
	errLog, accepts := httpwire.ServerErrorLog(s.log, "client API", ln.Addr().String())
	s.accepts = accepts
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ConnContext:       connContext,
		ConnState:         connState,
		ErrorLog:          errLog, // failed accepts at WARN, rate-limited (httpwire.AcceptLog)
		// No server-wide WriteTimeout: it would also cut WebSocket sessions, which live for
		// hours. The middleware gives every response its own write deadline instead.
	}
	srv := s.srv
	s.serve.Add(1)
	go func() {
		defer s.serve.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "error", err)
		}
	}()
	s.log.Info("listening", "addr", ln.Addr().String(), "https", s.cfg.TLS != nil, "max_conns", s.cfg.MaxConns, "max_conns_per_ip", s.cfg.MaxConnsPerIP)
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

// Close stops accepting and lets requests and WebSocket execs in flight finish until shortly
// before ctx's deadline (answerAt). Those still running then are cancelled with ErrShuttingDown
// and answered 503 — an exec's error frame on a WebSocket — before their connections close;
// every WebSocket session then closes with 1001 (Shutdown does not track hijacked connections).
// A request that ignores its cancellation is dropped when ctx ends. New sessions and WebSocket
// execs are refused 503 from the start.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	srv, accepts := s.srv, s.accepts
	s.mu.Unlock()
	s.drain()
	at, bounded := answerAt(ctx)
	var err error
	if srv != nil {
		first := ctx
		if bounded {
			var cancel context.CancelFunc
			first, cancel = context.WithDeadline(ctx, at)
			defer cancel()
		}
		err = srv.Shutdown(first)
		if err != nil && bounded && ctx.Err() == nil {
			// Answer what is still in flight, then wait for those connections again: a new
			// Shutdown looks from 1 ms on, where the first had slowed to every 500 ms and would
			// have seen the answers written only after most of what is left of ctx.
			s.stop(ErrShuttingDown)
			err = srv.Shutdown(ctx)
		}
		if err != nil {
			err = errors.Join(err, srv.Close())
		}
	}
	if !bounded {
		at = time.Now()
	}
	execs, cancel := context.WithDeadline(ctx, at)
	s.waitExecs(execs)
	cancel()
	s.stop(ErrShuttingDown)
	s.waitExecs(ctx)
	s.closeSessions()
	s.serve.Wait()
	if accepts != nil {
		accepts.Stop()
	}
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
