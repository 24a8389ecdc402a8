package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// AuthorityPath is the PlaceOS authority document front-ends load first.
const AuthorityPath = "/auth/authority"

// AuthorityVersion makes PlaceOS clients pick the /api/engine/v2 routes.
const AuthorityVersion = "2.0.0"

// Authority is the GET /auth/authority document (docs/protocol.md §6.10). Session is filled per
// request: whether the caller presented valid credentials. Nothing else comes from the request:
// a document that echoed the Host header would send a front-end wherever a forged Host (or a
// poisoned cache) pointed it.
type Authority struct {
	// PublicURL is where clients reach the engine (--public-url, e.g. https://engine.example.com):
	// when set, Domain is its host and the login and logout URLs are absolute URLs under it.
	PublicURL string `json:"-"`

	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Domain      string         `json:"domain"` // empty: PublicURL's host, else the listen address
	LoginURL    string         `json:"login_url"`
	LogoutURL   string         `json:"logout_url"`
	Production  bool           `json:"production"`
	Session     bool           `json:"session"`
	Config      map[string]any `json:"config"`
	Version     string         `json:"version"`
}

func (a Authority) withDefaults() Authority {
	if a.PublicURL != "" {
		base := strings.TrimSuffix(a.PublicURL, "/")
		if u, err := url.Parse(base); err == nil && a.Domain == "" {
			a.Domain = u.Host
		}
		if a.LoginURL == "" {
			a.LoginURL = base + "/login?continue={{url}}"
		}
		if a.LogoutURL == "" {
			a.LogoutURL = base + "/logout"
		}
	}
	if a.ID == "" {
		a.ID = "authority-engine"
	}
	if a.Name == "" {
		a.Name = "PlaceOS Go engine"
	}
	if a.LoginURL == "" {
		a.LoginURL = "/login?continue={{url}}"
	}
	if a.LogoutURL == "" {
		a.LogoutURL = "/logout"
	}
	if a.Config == nil {
		a.Config = map[string]any{}
	}
	if a.Version == "" {
		a.Version = AuthorityVersion
	}
	return a
}

// GET /auth/authority: open, so a front-end can find where to log in.
func (s *Server) handleAuthority(w http.ResponseWriter, r *http.Request) {
	a := s.cfg.Authority
	if a.Domain == "" {
		a.Domain = s.cfg.Addr // what this node listens on, never the request's Host
		if ln := s.Addr(); ln != nil {
			a.Domain = ln.String()
		}
	}
	a.Session = auth.CallerFrom(r.Context()).UserID != "" || s.cfg.Auth.Disabled()
	writeJSON(w, http.StatusOK, a)
}

// RequireClearance wraps h so that callers below min get 403 (management writes need admin;
// the node routes use it too). Authentication already happened: a missing caller is 401.
func (s *Server) RequireClearance(min auth.Clearance, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := needClearance(r, min); err != nil {
			s.writeError(w, r, err, call.Target{})
			return
		}
		h(w, r)
	}
}

// needClearance is the clearance rule of the routes that are not driver functions
// (docs/protocol.md §8.3): the caller of r needs at least min.
func needClearance(r *http.Request, min auth.Clearance) error {
	if c := auth.CallerFrom(r.Context()); c.Clearance < min {
		return errkind.Wrap(ErrAccessDenied, nil, "%s clearance required, caller has %s", min, c.Clearance)
	}
	return nil
}

// RequireWrites wraps a management route: reads need an authenticated caller, writes (anything
// but GET and HEAD) need admin.
func (s *Server) RequireWrites(h http.HandlerFunc) http.HandlerFunc {
	admin := s.RequireClearance(auth.ClearanceAdmin, h)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h(w, r)
			return
		}
		admin(w, r)
	}
}

// Origins is the set of browser origins, besides the node's own, whose pages may use the
// credentials a browser adds by itself (--allowed-origins; docs/protocol.md §8.5). The zero value
// allows none.
type Origins struct{ set map[string]bool }

// ParseOrigins reads --allowed-origins: a comma list of scheme://host[:port] (http or https, no
// path, query or user). Each is kept as a browser serializes an Origin header — lower case, the
// scheme's default port left out — so that a lookup is one comparison. "" allows none.
func ParseOrigins(list string) (Origins, error) {
	o := Origins{set: map[string]bool{}}
	if strings.TrimSpace(list) == "" {
		return o, nil
	}
	for _, item := range strings.Split(list, ",") {
		origin, err := normalOrigin(strings.TrimSpace(item))
		if err != nil {
			return Origins{}, fmt.Errorf("origin %q: %w", strings.TrimSpace(item), err)
		}
		o.set[origin] = true
	}
	return o, nil
}

// normalOrigin reads scheme://host[:port] as a browser would send it in an Origin header.
func normalOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", fmt.Errorf("want http://host[:port] or https://host[:port]")
	case u.Hostname() == "" || u.Opaque != "" || u.User != nil:
		return "", fmt.Errorf("want scheme://host[:port]")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("an origin has no path, query or fragment")
	}
	if strings.Trim(u.Port(), "0123456789") != "" {
		return "", fmt.Errorf("bad port")
	}
	return scheme + "://" + hostPort(scheme, u.Host), nil
}

// hostPort is host[:port] in lower case, without the scheme's default port (browsers leave it
// out of an Origin header; some clients put it in Host).
func hostPort(scheme, hp string) string {
	hp = strings.ToLower(hp)
	h, port, err := net.SplitHostPort(hp)
	if err != nil || port != map[string]string{"http": "80", "https": "443"}[scheme] {
		return hp
	}
	if strings.Contains(h, ":") {
		return "[" + h + "]" // IPv6
	}
	return h
}

// allowed reports whether a page of origin (an Origin header, or a Referer) may make the request:
// it is the node's own — the host and port the request was sent to (r.Host), whatever the
// scheme, since a TLS-terminating proxy changes the scheme and not the host — or it is listed.
func (o Origins) allowed(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Hostname() == "" || u.User != nil {
		return false // "null" (sandboxed frames, file: pages) and anything unreadable are foreign
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return false
	}
	if hostPort(scheme, u.Host) == hostPort(scheme, r.Host) {
		return true
	}
	return o.set[scheme+"://"+hostPort(scheme, u.Host)]
}

// checkBrowser is the browser-safety rule (docs/protocol.md §8.5), applied to every request once
// its caller is known. A browser adds some credentials by itself, on a request any site's page
// makes: the cookie — and, under --auth none, merely reaching the loopback listener. A request
// that changes something (any method but GET, HEAD, OPTIONS) or opens a WebSocket on such a
// credential must come from an allowed origin; a cross-site GET changes nothing and its answer
// is not readable by the foreign page. Which credential counts is the one that authenticated
// (Caller.From), not whatever else the URL carries.
//
//   - header credentials pass: a foreign page cannot set them;
//   - a query credential on an unsafe request needs an allowed Origin when there is one: a foreign
//     form's action can carry it, though only if the page knows it; a WebSocket client's query
//     token is how PlaceOS front-ends on other origins connect, and passes;
//   - a cookie needs an allowed Origin; on an unsafe request without one (old browsers leave it
//     out of same-origin requests) an allowed Referer will do, else it is refused; a WebSocket
//     upgrade without an Origin is not a browser's and passes;
//   - --auth none is treated as the cookie, except that a request without Origin passes (curl,
//     engine apply): every browser sends one on a cross-site unsafe request or upgrade.
func (s *Server) checkBrowser(r *http.Request, c auth.Caller) error {
	upgrade := websocket.IsWebSocketUpgrade(r)
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if !upgrade {
			return nil
		}
	}
	origin := r.Header.Get("Origin")
	switch c.From {
	case auth.FromCookie, auth.FromNowhere:
	case auth.FromQuery:
		if upgrade {
			return nil
		}
	default:
		return nil
	}
	if origin != "" {
		if s.cfg.AllowedOrigins.allowed(origin, r) {
			return nil
		}
		hint := "list the origin in --allowed-origins"
		if c.From == auth.FromNowhere {
			// --auth none: every caller is an admin, so a listed origin's pages could drive this
			// node with no credential at all.
			hint = "under --auth none only this node's own pages may; list another origin in --allowed-origins only if its pages may act as an admin here"
		}
		return errkind.Wrap(ErrAccessDenied, nil, "cross-site request refused: a page of origin %q %s (%s)",
			origin, whatCrossSite[c.From], hint)
	}
	if upgrade || c.From != auth.FromCookie {
		return nil
	}
	if ref := r.Header.Get("Referer"); ref != "" && s.cfg.AllowedOrigins.allowed(ref, r) {
		return nil
	}
	return errkind.Wrap(ErrAccessDenied, nil, "request refused: a cookie credential on %s needs an Origin or Referer header naming an allowed origin", r.Method)
}

// whatCrossSite says what a foreign page may not do, by the credential that authenticated.
var whatCrossSite = map[auth.Source]string{
	auth.FromCookie:  "may not use this node's cookie credentials (send credentials in a header)",
	auth.FromQuery:   "may not send query credentials with a write (send credentials in a header)",
	auth.FromNowhere: "may not call a node that runs without authentication (--auth none)",
}
