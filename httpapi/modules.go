package httpapi

import (
	"context"
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
)

func moduleTarget(r *http.Request) call.Target { return call.Target{ModuleID: r.PathValue("id")} }

// POST /modules/{id}/exec/{fn}: execute by module id, no system needed.
func (s *Server) handleModuleExec(w http.ResponseWriter, r *http.Request) {
	s.serveExec(w, r, moduleTarget(r), r.PathValue("fn"))
}

// GET /modules/{id}/state
func (s *Server) handleModuleState(w http.ResponseWriter, r *http.Request) {
	s.serveState(w, r, moduleTarget(r))
}

// GET /modules/{id}/state/{status}: the parsed value, as on the system route. (PlaceOS wraps it
// in a JSON string here; that quirk is not copied.)
func (s *Server) handleModuleStatus(w http.ResponseWriter, r *http.Request) {
	s.serveStatus(w, r, moduleTarget(r), r.PathValue("status"))
}

// POST /modules/{id}/start: support or admin, as PlaceOS asks (a persistent change of the model
// that every node acts on).
func (s *Server) handleModuleStart(w http.ResponseWriter, r *http.Request) {
	s.setRunning(w, r, s.cfg.Engine.StartModule)
}

// POST /modules/{id}/stop: support or admin, as start.
func (s *Server) handleModuleStop(w http.ResponseWriter, r *http.Request) {
	s.setRunning(w, r, s.cfg.Engine.StopModule)
}

func (s *Server) setRunning(w http.ResponseWriter, r *http.Request, set func(context.Context, string) error) {
	t := moduleTarget(r)
	if err := needClearance(r, auth.ClearanceSupport); err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if err := set(r.Context(), t.ModuleID); err != nil {
		s.writeError(w, r, err, t)
		return
	}
	w.WriteHeader(http.StatusOK)
}
