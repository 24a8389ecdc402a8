package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
)

// AuthorityPath is the PlaceOS authority document front-ends load first.
const AuthorityPath = "/auth/authority"

// AuthorityVersion makes PlaceOS clients pick the /api/engine/v2 routes.
const AuthorityVersion = "2.0.0"

// Authority is the GET /auth/authority document (PROTOCOL §6). Session is filled per request:
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
	a.Session = CallerFrom(r.Context()).UserID != "" || s.cfg.Authenticate == nil
	writeJSON(w, http.StatusOK, a)
}

// authenticate identifies a request's caller. Node-to-node calls prove themselves with the
// cluster secret and act for the caller named in their headers. Open routes never fail: a caller
// without valid credentials is anonymous there.
func (s *Server) authenticate(r *http.Request) (Caller, error) {
	if got := r.Header.Get(ClusterSecretHeader); got != "" {
		if !ValidClusterSecret(s.cfg.ClusterSecret, got) {
			return Caller{}, fail(ErrUnauthenticated, nil, "invalid cluster secret")
		}
		return forwardedCaller(r), nil
	}
	if s.cfg.Authenticate == nil {
		// --auth none: everyone may do everything, node routes included (a dev cluster on
		// loopback runs without a cluster secret).
		return Caller{UserID: r.Header.Get(UserIDHeader), Clearance: ClearanceAdmin, Node: true}, nil
	}
	c, err := s.cfg.Authenticate(r)
	if err != nil {
		if isOpen(r) {
			return Caller{}, nil
		}
		return Caller{}, err
	}
	c.Node = false // only the cluster secret makes a node
	return c, nil
}

// RequireClearance wraps h so that callers below min get 403 (management writes need admin;
// the node routes use it too). Authentication already happened: a missing caller is 401.
func (s *Server) RequireClearance(min Clearance, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := CallerFrom(r.Context())
		if c.Clearance < min {
			s.writeError(w, r, fail(ErrAccessDenied, nil, "%s clearance required, caller has %s", min, c.Clearance), target{})
			return
		}
		h(w, r)
	}
}

// RequireWrites wraps a management route: reads need an authenticated caller, writes (anything
// but GET and HEAD) need admin.
func (s *Server) RequireWrites(h http.HandlerFunc) http.HandlerFunc {
	admin := s.RequireClearance(ClearanceAdmin, h)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			h(w, r)
			return
		}
		admin(w, r)
	}
}

// RequireNode wraps a node-to-node route: only another node (valid cluster secret, or any
// caller under --auth none) may call it; users get 403, even admins.
func (s *Server) RequireNode(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !CallerFrom(r.Context()).Node {
			s.writeError(w, r, fail(ErrAccessDenied, nil, "node-to-node route: the cluster secret is required"), target{})
			return
		}
		h(w, r)
	}
}

// CheckFunctionAccess applies PROTOCOL §8 to a module's metadata: nil if a caller of clearance c
// may call fn, ErrAccessDenied if not, ErrFunctionNotFound if the driver has no such function.
// REST, WebSocket and driver-to-driver calls all come through it.
func CheckFunctionAccess(metadataJSON json.RawMessage, fn string, c Clearance) error {
	md, err := parseMetadata(metadataJSON)
	if err != nil {
		return fail(ErrBadMetadata, err, "driver metadata: %v", err)
	}
	return md.access(fn, c)
}

func (md *metadata) access(fn string, c Clearance) error {
	if md.funcs[fn] == nil {
		return fail(ErrFunctionNotFound, nil, "could not find function %s", fn)
	}
	if !md.allowed(fn, c) {
		return fail(ErrAccessDenied, nil, "attempted to access privileged function %s", fn)
	}
	return nil
}

// AuthorizeDriverCall is the clearance check of a driver-to-driver call (core's host Exec calls
// it): the call carries the originating user's id, whose clearance applies; a call with no user
// (a driver acting on its own: a schedule, a status change) is internal and allowed.
func (s *Server) AuthorizeDriverCall(ctx context.Context, userID, moduleID, fn string) error {
	if userID == "" {
		return nil
	}
	c := s.userClearance(userID)
	md, err := s.loadMetadata(ctx, moduleID)
	if err != nil {
		return err
	}
	return md.access(fn, c)
}

// userClearance is what a user id alone is worth: with --auth none everything, with --auth keys
// what the Authenticator last saw for it, otherwise (a custom Authenticate) the lowest.
func (s *Server) userClearance(userID string) Clearance {
	switch {
	case s.cfg.Auth != nil:
		return s.cfg.Auth.ClearanceOf(userID)
	case s.cfg.Authenticate == nil:
		return ClearanceAdmin
	}
	return ClearanceUser
}

// protectedModule is PlaceOS's rule that modules named with a leading "_" (internal logic,
// triggers) need support clearance to bind.
func protectedModule(name string) bool { return strings.HasPrefix(name, "_") }
