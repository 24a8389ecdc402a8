package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

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
	h(http.MethodPost, c+"/repositories/{id}/pull", s.boundedID(model.KindRepository, s.handleAction(s.cfg.Node.Pull)))
	h(http.MethodPost, c+"/drivers/{id}/recompile", s.boundedID(model.KindDriver, s.handleAction(s.cfg.Node.Recompile)))
	h(http.MethodGet, c+"/model", s.handleModelGet)
	h(http.MethodPut, c+"/model", s.handleModelPut)
	for _, k := range model.Kinds {
		base := c + "/" + string(k)
		h(http.MethodGet, base, func(w http.ResponseWriter, r *http.Request) { s.handleList(w, r, k) })
		h(http.MethodPost, base, func(w http.ResponseWriter, r *http.Request) { s.handlePut(w, r, k, true) })
		h(http.MethodGet, base+"/{id}", s.boundedID(k, func(w http.ResponseWriter, r *http.Request) { s.handleGet(w, r, k) }))
		h(http.MethodPut, base+"/{id}", s.boundedID(k, func(w http.ResponseWriter, r *http.Request) { s.handlePut(w, r, k, false) }))
		h(http.MethodPatch, base+"/{id}", s.boundedID(k, func(w http.ResponseWriter, r *http.Request) { s.handlePatch(w, r, k) }))
		h(http.MethodDelete, base+"/{id}", s.boundedID(k, func(w http.ResponseWriter, r *http.Request) { s.handleDelete(w, r, k) }))
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
		http.Redirect(w, r, s.scheme(r)+"://"+leader+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return nil, nil
	}
	return s.cfg.Models.ModelFor(auth.CallerFrom(r.Context()).Clearance)
}

// scheme is the scheme a redirect to another node keeps: the one the request came in on. A
// client follows the redirect with its credential (an api-key or bearer_token query parameter,
// the X-API-Key header most clients keep across redirects), so an https request must never be
// sent on to an http:// address, where anyone on the path reads the credential. The nodes of a
// cluster serve their client API alike (docs/protocol.md §6.8).
func (s *Server) scheme(r *http.Request) string {
	if r.TLS != nil || s.cfg.TLS != nil {
		return "https"
	}
	return "http"
}

// modelForRead is readModel for a handler: false when the response is written (an error about
// t, or the redirect to the leader).
func (s *Server) modelForRead(w http.ResponseWriter, r *http.Request, t call.Target) (*model.Model, bool) {
	m, err := s.readModel(w, r)
	if err != nil {
		s.writeError(w, r, err, t)
		return nil, false
	}
	return m, m != nil
}

// singular names one entity of kind in messages.
func singular(kind model.Kind) string {
	if kind == model.KindRepository {
		return "repository"
	}
	return strings.TrimSuffix(string(kind), "s")
}

// GET /{kind}: one page of the entities q matches, sorted by id (lists.go), narrowed by the
// filters PlaceOS has for the kind (listFilter).
func (s *Server) handleList(w http.ResponseWriter, r *http.Request, kind model.Kind) {
	lq, err := parseListQuery(r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	m, ok := s.modelForRead(w, r, call.Target{})
	if !ok {
		return
	}
	items, err := listFilter(m, kind, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	text := func(e any) []string { return searchText(m, e) }
	if kind != model.KindModule {
		writeList(w, r, lq, string(kind), items, text)
		return
	}
	page := listPage(w, r, lq, string(kind), items, text)
	mods := make([]*model.Module, len(page))
	for i, e := range page {
		mods[i] = e.(*model.Module)
	}
	s.writeModules(w, r, http.StatusOK, m, mods, true)
}

// GET /{kind}/{id}
func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, kind model.Kind) {
	m, ok := s.modelForRead(w, r, call.Target{})
	if !ok {
		return
	}
	id := r.PathValue("id")
	e, ok := m.Get(kind, id)
	if !ok {
		s.writeError(w, r, errkind.Wrap(model.ErrNotFound, nil, "%s %q not found", singular(kind), id), call.Target{})
		return
	}
	s.writeEntity(w, r, http.StatusOK, m, e)
}

// POST /{kind} creates (409 when the id exists; an id is assigned when the body has none);
// PUT /{kind}/{id} creates or replaces.
func (s *Server) handlePut(w http.ResponseWriter, r *http.Request, kind model.Kind, create bool) {
	raw, ok := s.writeBody(w, r)
	if !ok {
		return
	}
	if create {
		var err error
		if raw, err = withNewID(raw, kind); err != nil {
			s.writeError(w, r, err, call.Target{})
			return
		}
	}
	f, id, err := entityFile(raw, kind)
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
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	s.applyEntity(w, r, f, kind, id, status)
}

// writeBody is the JSON body of a management write; false when the response is written.
func (s *Server) writeBody(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	if s.cfg.Models == nil {
		s.writeError(w, r, ErrNoManager, call.Target{})
		return nil, false
	}
	var raw json.RawMessage
	if err := httpwire.DecodeJSON(r, &raw); err != nil {
		s.writeError(w, r, err, call.Target{})
		return nil, false
	}
	return raw, true
}

// applyEntity writes f and answers the stored entity, as every read shows it to this caller.
func (s *Server) applyEntity(w http.ResponseWriter, r *http.Request, f *model.File, kind model.Kind, id string, status int) {
	if err := s.cfg.Models.Apply(r.Context(), f); err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	clearance := auth.CallerFrom(r.Context()).Clearance
	m, err := s.cfg.Models.ModelFor(clearance)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	e, ok := m.Get(kind, id)
	if !s.cfg.Models.IsLeader() {
		m, ok = s.awaitLocal(r.Context(), m, clearance, f, kind, id)
		e, _ = m.Get(kind, id)
	}
	if !ok {
		// The leader committed the write, but this node's copy has not shown it within
		// localCopyWait (a follower far behind: a full disk, a long pause). The write is done;
		// answering an error would make the client send it again (a POST would then find its
		// id taken), and answering this node's copy would show the entity as it was.
		s.log.Warn("a write through this node is committed but not in its copy of the model yet; answered 202",
			"kind", kind, "id", id, "request_id", RequestID(r.Context()))
		writeJSON(w, http.StatusAccepted, map[string]string{"id": id,
			"message": "written; this node's copy of the model does not show it yet: read it again, or from the leader with ?consistent=true"})
		return
	}
	s.writeEntity(w, r, status, m, e)
}

// localCopyWait bounds how long a follower's answer to a write waits for its copy of the model.
const localCopyWait = 2 * time.Second

// awaitLocal waits until this follower's copy of the model shows the entity as f wrote it —
// the leader has committed it, and it arrives here a moment later — so that the answer to a
// write made through a follower is that write: a barrier first (one round trip to the leader
// and back), then, should that fail, by looking again. Protected values are compared by level
// and key only (this node holds them sealed). ok is false when the copy still does not show it
// after localCopyWait.
func (s *Server) awaitLocal(ctx context.Context, m *model.Model, c auth.Clearance, f *model.File, kind model.Kind, id string) (_ *model.Model, ok bool) {
	written, _ := model.New().Upsert(f).Get(kind, id)
	want := entityShape(written)
	ctx, cancel := context.WithTimeout(ctx, localCopyWait)
	defer cancel()
	current := s.cfg.Models.Barrier(ctx) == nil
	if current {
		if next, err := s.cfg.Models.ModelFor(c); err == nil {
			m = next
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// Once the barrier came back the copy holds this write and maybe a later one (then the
		// stored entity is that one's); without it only the shape written tells it arrived.
		if e, ok := m.Get(kind, id); ok && (current || bytes.Equal(entityShape(e), want)) {
			return m, true
		}
		select {
		case <-ctx.Done():
			return m, false
		case <-tick.C:
		}
		if next, err := s.cfg.Models.ModelFor(c); err == nil {
			m = next
		}
	}
}

// entityShape is an entity's JSON with each protected value left out (its level and key kept).
func entityShape(e any) []byte {
	var obj map[string]any
	raw, _ := json.Marshal(e)
	_ = json.Unmarshal(raw, &obj)
	if ps, ok := obj["protected_settings"].([]any); ok {
		for _, p := range ps {
			if settings, ok := p.(map[string]any)["settings"].(map[string]any); ok {
				for k := range settings {
					settings[k] = nil
				}
			}
		}
	}
	out, _ := json.Marshal(obj)
	return out
}

// withNewID gives a created entity without an id (absent, null or "") a new one (model.NewID),
// here on the node that accepts the write, so that the Raft log carries the id and every node
// applies the same entity. A body that is not an object is left for entityFile to refuse.
func withNewID(raw json.RawMessage, kind model.Kind) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return raw, nil
	}
	if id, ok := obj["id"]; ok && string(id) != "null" && string(id) != `""` {
		return raw, nil
	}
	id, err := model.NewID(kind)
	if err != nil {
		return nil, err
	}
	obj["id"], _ = json.Marshal(id)
	return json.Marshal(obj)
}

// entityFile reads one entity of kind, strictly (unknown fields are an error, the read-only
// fields of its reads ignored), into a model file holding just it.
func entityFile(raw json.RawMessage, kind model.Kind) (*model.File, string, error) {
	raw = withoutReadOnly(raw, kind)
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
	// Before the handler quotes it (an id that does not match the path's, one that exists); the
	// model refuses it too, and every name past the bound (model/bounds.go).
	if err := call.CheckIdentifier("the "+singular(kind)+" id", id); err != nil {
		return nil, "", err
	}
	return f, id, nil
}

// PATCH /{kind}/{id}: the fields in the body replace the stored ones, null removes one (JSON
// merge patch, RFC 7396, at the top level); the rest stay. The result is checked as a PUT of
// it would be, unknown fields included. It starts from the entity as this caller reads it:
// protected values it cannot read are "[redacted]", which a write keeps (docs/protocol.md §2.7).
func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, kind model.Kind) {
	raw, ok := s.writeBody(w, r)
	if !ok {
		return
	}
	var patch map[string]json.RawMessage
	if json.Unmarshal(raw, &patch) != nil || patch == nil {
		s.writeError(w, r, errkind.Wrap(httpwire.ErrBadBody, nil, "a PATCH body is a JSON object of the fields to change"), call.Target{})
		return
	}
	id := r.PathValue("id")
	if v, ok := patch["id"]; ok {
		var got string
		if json.Unmarshal(v, &got) != nil || got != id {
			// The body's value is not quoted: it may be of any size.
			s.writeError(w, r, errkind.Wrap(httpwire.ErrBadParameter, nil, "%s id in the body does not match %q in the path (an id cannot be changed)", singular(kind), id), call.Target{})
			return
		}
	}
	if !s.cfg.Models.IsLeader() {
		// The merge starts from the entity as the cluster holds it, not from this follower's
		// copy, which may not show a write acknowledged a moment ago (the merged entity would
		// undo it). Nothing is written yet, so a barrier that fails fails the PATCH.
		ctx, cancel := context.WithTimeout(r.Context(), localCopyWait)
		err := s.cfg.Models.Barrier(ctx)
		cancel()
		if err != nil {
			s.writeError(w, r, errkind.Wrap(errkind.Unavailable, err, "this node could not bring its copy of the model up to date for the PATCH; retry"), call.Target{})
			return
		}
	}
	m, err := s.cfg.Models.ModelFor(auth.CallerFrom(r.Context()).Clearance)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	e, ok := m.Get(kind, id)
	if !ok {
		s.writeError(w, r, errkind.Wrap(model.ErrNotFound, nil, "%s %q not found", singular(kind), id), call.Target{})
		return
	}
	cur := map[string]json.RawMessage{}
	stored, _ := json.Marshal(e)
	_ = json.Unmarshal(stored, &cur)
	for k, v := range patch {
		if string(v) == "null" {
			delete(cur, k)
		} else {
			cur[k] = v
		}
	}
	merged, _ := json.Marshal(cur)
	f, _, err := entityFile(merged, kind)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	s.applyEntity(w, r, f, kind, id, http.StatusOK)
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
	m, ok := s.modelForRead(w, r, call.Target{})
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, m.File())
}

// PUT /model: upsert every entity of a model file in one validated write (`engine apply`).
// Entities that refer to each other (a system and its logic module) can only arrive together.
func (s *Server) handleModelPut(w http.ResponseWriter, r *http.Request) {
	raw, ok := s.writeBody(w, r)
	if !ok {
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
