package httpapi

import (
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// AuthorityPath is the PlaceOS authority document front-ends load first.
const AuthorityPath = "/auth/authority"

// AuthorityVersion makes PlaceOS clients pick the /api/engine/v2 routes.
const AuthorityVersion = "2.0.0"

// Authority is the GET /auth/authority document (docs/protocol.md §6). Session is filled per request:
// whether the caller presented valid credentials.
type Authority struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Domain      string         `json:"domain"` // empty: the request's Host
	LoginURL    string         `json:"login_url"`
	LogoutURL   string         `json:"logout_url"`
	Production  bool           `json:"production"`
	Session     bool           `json:"session"`
	Config      map[string]any `json:"config"`
	Version     string         `json:"version"`
}

func (a Authority) withDefaults() Authority {
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
		a.Domain = r.Host
	}
	a.Session = auth.CallerFrom(r.Context()).UserID != "" || s.cfg.Auth.Disabled()
	writeJSON(w, http.StatusOK, a)
}

// RequireClearance wraps h so that callers below min get 403 (management writes need admin;
// the node routes use it too). Authentication already happened: a missing caller is 401.
func (s *Server) RequireClearance(min auth.Clearance, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := auth.CallerFrom(r.Context())
		if c.Clearance < min {
			s.writeError(w, r, errkind.Wrap(ErrAccessDenied, nil, "%s clearance required, caller has %s", min, c.Clearance), call.Target{})
			return
		}
		h(w, r)
	}
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
