package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
)

// slugTarget reads {sys} and {slug} from the route.
func slugTarget(r *http.Request) (call.Target, error) {
	t := call.Target{SystemID: r.PathValue("sys")}
	slug := r.PathValue("slug")
	name, index, err := ParseSlug(slug)
	if err != nil {
		t.Name = slug
		return t, err
	}
	t.Name, t.Index = name, index
	return t, nil
}

// POST /systems/{sys}/{Name_N}/{fn}
func (s *Server) handleSystemExec(w http.ResponseWriter, r *http.Request) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	s.serveExec(w, r, t, r.PathValue("fn"))
}

// GET /systems/{sys}/{Name_N}: the module's status with values as JSON text.
func (s *Server) handleSystemState(w http.ResponseWriter, r *http.Request) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	s.serveState(w, r, t)
}

// GET /systems/{sys}/{Name_N}/{status}: one status, parsed, or null.
func (s *Server) handleSystemStatus(w http.ResponseWriter, r *http.Request) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	s.serveStatus(w, r, t, r.PathValue("status"))
}

// notInSystem is a place in a system with no module, which a state route answers as missing ({}
// or null), as PlaceOS does; a missing system, or a module named by id, is a 404.
func notInSystem(t call.Target, err error) bool {
	return t.ModuleID == "" && errors.Is(err, errkind.NotFound) && !errors.Is(err, errkind.SystemNotFound)
}

// serveState answers a module's status hash. The engine resolves the target and decides whether
// the caller may read it (a protected module needs support), the same for every route.
func (s *Server) serveState(w http.ResponseWriter, r *http.Request, t call.Target) {
	state, err := s.cfg.Engine.State(r.Context(), t, auth.CallerFrom(r.Context()))
	if notInSystem(t, err) {
		writeRaw(w, http.StatusOK, []byte("{}"))
		return
	}
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if state == nil {
		state = map[string]string{}
	}
	writeJSON(w, http.StatusOK, state)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, t call.Target, name string) {
	val, found, err := s.cfg.Engine.StateValue(r.Context(), t, auth.CallerFrom(r.Context()), name)
	if notInSystem(t, err) {
		writeRaw(w, http.StatusOK, []byte("null"))
		return
	}
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if !found {
		writeRaw(w, http.StatusOK, []byte("null"))
		return
	}
	if !json.Valid(val) {
		s.writeError(w, r, errkind.Wrap(errCorruptStatus, nil, "status %s of module %s is not valid JSON", name, describe(t)), t)
		return
	}
	writeRaw(w, http.StatusOK, val)
}

// describe names the module a target addresses, for messages.
func describe(t call.Target) string {
	if t.ModuleID != "" {
		return t.ModuleID
	}
	return fmt.Sprintf("%s_%d in system %s", t.Name, max(t.Index, 1), t.SystemID)
}

// GET /systems/{sys}/types: module counts by resolved name.
func (s *Server) handleTypes(w http.ResponseWriter, r *http.Request) {
	t := call.Target{SystemID: r.PathValue("sys")}
	types, err := s.cfg.Engine.Types(r.Context(), t.SystemID)
	if errors.Is(err, errkind.NotFound) {
		err = errkind.Wrap(errkind.SystemNotFound, nil, "could not find system %s", t.SystemID)
	}
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if types == nil {
		types = map[string]int{}
	}
	writeJSON(w, http.StatusOK, types)
}
