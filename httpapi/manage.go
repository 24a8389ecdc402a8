package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/model"
)

// manageRoutes registers CRUD for every kind and the bulk model routes. They come after the
// other /systems and /modules routes, whose static segments ("control", "functions") must win.
func (s *Server) manageRoutes(handle func(method, path string, h http.HandlerFunc)) {
	c := ClientBase
	// Reads are open to every authenticated caller; writes need admin.
	h := func(method, path string, fn http.HandlerFunc) { handle(method, path, s.RequireWrites(fn)) }
	h(http.MethodPost, c+"/repositories/{id}/pull", s.handleAction(s.cfg.Node.Pull))
	h(http.MethodPost, c+"/drivers/{id}/recompile", s.handleAction(s.cfg.Node.Recompile))
	h(http.MethodGet, c+"/model", s.handleModelGet)
	h(http.MethodPut, c+"/model", s.handleModelPut)
	for _, kind := range model.Kinds {
		k := kind
		base := c + "/" + string(k)
		h(http.MethodGet, base, func(w http.ResponseWriter, r *http.Request) { s.handleList(w, r, k) })
		h(http.MethodPost, base, func(w http.ResponseWriter, r *http.Request) { s.handlePut(w, r, k, true) })
		h(http.MethodGet, base+"/{id}", func(w http.ResponseWriter, r *http.Request) { s.handleGet(w, r, k) })
		h(http.MethodPut, base+"/{id}", func(w http.ResponseWriter, r *http.Request) { s.handlePut(w, r, k, false) })
		h(http.MethodDelete, base+"/{id}", func(w http.ResponseWriter, r *http.Request) { s.handleDelete(w, r, k) })
	}
}

// readModel returns the model as the caller may read it (protected settings above its clearance
// redacted). With ?consistent=true a follower redirects the caller to the leader (307) and
// readModel returns a nil model: the response is written.
func (s *Server) readModel(w http.ResponseWriter, r *http.Request) (*model.Model, error) {
	if s.cfg.Models == nil {
		return nil, ErrNoManager
	}
	if r.URL.Query().Get("consistent") == "true" && !s.cfg.Models.IsLeader() {
		_, leader := s.cfg.Models.Leader()
		if leader == "" {
			return nil, errkind.Wrap(errkind.Unavailable, nil, "no leader: this node is not part of a majority")
		}
		http.Redirect(w, r, "http://"+leader+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return nil, nil
	}
	return s.cfg.Models.ModelFor(auth.CallerFrom(r.Context()).Clearance)
}

// singular names one entity of kind in messages.
func singular(kind model.Kind) string {
	if kind == model.KindRepository {
		return "repository"
	}
	return strings.TrimSuffix(string(kind), "s")
}

// GET /{kind}
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, kind model.Kind) {
	m, err := s.readModel(w, r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	if m == nil {
		return
	}
	writeJSON(w, http.StatusOK, m.List(kind))
}

// GET /{kind}/{id}
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, kind model.Kind) {
	m, err := s.readModel(w, r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	if m == nil {
		return
	}
	id := r.PathValue("id")
	e, ok := m.Get(kind, id)
	if !ok {
		s.writeError(w, r, errkind.Wrap(model.ErrNotFound, nil, "%s %q not found", singular(kind), id), call.Target{})
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// POST /{kind} creates (409 when the id exists); PUT /{kind}/{id} creates or replaces.
func (s *Server) handlePut(w http.ResponseWriter, r *http.Request, kind model.Kind, create bool) {
	if s.cfg.Models == nil {
		s.writeError(w, r, ErrNoManager, call.Target{})
		return
	}
	f, id, err := decodeEntity(r, kind)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	if pathID := r.PathValue("id"); !create && id != pathID {
		s.writeError(w, r, errkind.Wrap(httpwire.ErrBadParameter, nil, "%s id %q in the body does not match %q in the path", singular(kind), id, pathID), call.Target{})
		return
	}
	if create {
		if m, _ := s.cfg.Models.Model(); m.Has(kind, id) {
			s.writeError(w, r, errkind.Wrap(errkind.Conflict, nil, "%s %q already exists (PUT replaces it)", singular(kind), id), call.Target{})
			return
		}
	}
	if err := s.cfg.Models.Apply(r.Context(), f); err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	// The stored entity, as every read shows it to this caller.
	m, err := s.cfg.Models.ModelFor(auth.CallerFrom(r.Context()).Clearance)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	e, _ := m.Get(kind, id)
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	writeJSON(w, status, e)
}

// decodeEntity reads one entity of kind, strictly (unknown fields are an error), into a model
// file holding just it.
func decodeEntity(r *http.Request, kind model.Kind) (*model.File, string, error) {
	var raw json.RawMessage
	if err := httpwire.DecodeJSON(r, &raw); err != nil {
		return nil, "", err
	}
	wrapped, _ := json.Marshal(map[string][]json.RawMessage{string(kind): {raw}})
	f, err := model.ParseFile(wrapped)
	if err != nil {
		return nil, "", err
	}
	var ref struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &ref) // ParseFile accepted it, so it is an object
	id := ref.ID
	if id == "" {
		return nil, "", errkind.Wrap(httpwire.ErrBadParameter, nil, "%s: field id is required", singular(kind))
	}
	return f, id, nil
}

// DELETE /{kind}/{id}: refused while something refers to it, naming the references.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, kind model.Kind) {
	if s.cfg.Models == nil {
		s.writeError(w, r, ErrNoManager, call.Target{})
		return
	}
	if err := s.cfg.Models.Delete(r.Context(), kind, r.PathValue("id")); err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /model: the whole model as a model file.
func (s *Server) handleModelGet(w http.ResponseWriter, r *http.Request) {
	m, err := s.readModel(w, r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	if m == nil {
		return
	}
	writeJSON(w, http.StatusOK, m.File())
}

// PUT /model: upsert every entity of a model file in one validated write (`engine apply`).
// Entities that refer to each other (a system and its logic module) can only arrive together.
func (s *Server) handleModelPut(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Models == nil {
		s.writeError(w, r, ErrNoManager, call.Target{})
		return
	}
	var raw json.RawMessage
	if err := httpwire.DecodeJSON(r, &raw); err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	f, err := model.ParseFile(raw)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	if err := s.cfg.Models.Apply(r.Context(), f); err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	_, version := s.cfg.Models.Model()
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "version": version})
}

// handleAction serves POST /{kind}/{id}/{action}: op on this node.
func (s *Server) handleAction(op func(context.Context, string) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := op(r.Context(), r.PathValue("id"))
		if err != nil {
			s.writeError(w, r, err, call.Target{})
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}
