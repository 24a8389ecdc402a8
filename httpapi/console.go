package httpapi

import (
	"net/http"
	"strings"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/console"
	"github.com/placeos-go/engine/errkind"
)

// CurrentUserPath answers who the caller is: PlaceOS front-ends read it to learn what to offer
// (PlaceOS's route of the same name, with the fields the engine knows).
const CurrentUserPath = ClientBase + "/users/current"

// CurrentUser is the GET /users/current answer: the user id the credential names and its
// clearance, as PlaceOS's sys_admin and support flags and as the engine's role name.
type CurrentUser struct {
	ID       string `json:"id"`
	SysAdmin bool   `json:"sys_admin"`
	Support  bool   `json:"support"`
	Role     string `json:"role"`
}

// GET /api/engine/v2/users/current
func (s *Server) handleCurrentUser(w http.ResponseWriter, r *http.Request) {
	c := auth.CallerFrom(r.Context())
	writeJSON(w, http.StatusOK, CurrentUser{
		ID:       c.UserID,
		SysAdmin: c.Clearance >= auth.ClearanceAdmin,
		Support:  c.Clearance >= auth.ClearanceSupport,
		Role:     c.Clearance.String(),
	})
}

// isConsole is true for the console's page and files: open routes, since they hold no data (every
// piece of data the page shows comes from the API with the operator's own credentials).
func isConsole(p string) bool {
	return p == console.Path || strings.HasPrefix(p, console.Path+"/")
}

// consoleRoutes mounts the console (Config.Console): the page at /console and /console/, its files
// at /console/{file}. ("/console/" is a subtree pattern: a deeper path reaches serve too, which
// answers 404, as the console has no folders.)
func (s *Server) consoleRoutes(handle func(method, path string, h http.HandlerFunc)) {
	if s.cfg.Console == nil {
		return
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Console.Serve(w, r) {
			s.writeError(w, r, errkind.Wrap(ErrRouteNotFound, nil, "the console has no file %s", r.URL.Path), call.Target{})
		}
	}
	handle(http.MethodGet, console.Path, serve)
	handle(http.MethodGet, console.Path+"/", serve)
	handle(http.MethodGet, console.Path+"/{file}", serve)
}
