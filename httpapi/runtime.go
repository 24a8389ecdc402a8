package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/model"
)

// POST /systems/{sys}/start: support or admin, as module start.
func (s *Server) handleSystemStart(w http.ResponseWriter, r *http.Request) {
	s.setSystemRunning(w, r, s.cfg.Engine.StartModule)
}

// POST /systems/{sys}/stop: support or admin, as module stop.
func (s *Server) handleSystemStop(w http.ResponseWriter, r *http.Request) {
	s.setSystemRunning(w, r, s.cfg.Engine.StopModule)
}

// setSystemRunning starts or stops the system's modules through the module start/stop path (a
// model write each, which the owners act on), all at once, and answers 200 with no body when
// every one is done, as PlaceOS. With single_occurrence (true unless given as false, as in
// PlaceOS) a module another system lists too is left alone, so stopping one room does not stop a
// device a second room shares.
func (s *Server) setSystemRunning(w http.ResponseWriter, r *http.Request, set func(context.Context, string) error) {
	t := call.Target{SystemID: r.PathValue("sys")}
	if err := needClearance(r, auth.ClearanceSupport); err != nil {
		s.writeError(w, r, err, t)
		return
	}
	single := true
	if v := r.URL.Query().Get("single_occurrence"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.writeError(w, r, errkind.Wrap(httpwire.ErrBadParameter, nil, "single_occurrence %q: must be true or false", v), t)
			return
		}
		single = b
	}
	if s.cfg.Models == nil {
		s.writeError(w, r, ErrNoManager, t)
		return
	}
	m, _ := s.cfg.Models.Model()
	sys, err := systemOf(m, t.SystemID)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, id := range sys.Modules {
		if m.Modules[id] == nil || single && inOtherSystem(m, sys.ID, id) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := set(r.Context(), id); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.writeError(w, r, err, t)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// inOtherSystem reports whether a system other than sysID lists the module.
func inOtherSystem(m *model.Model, sysID, moduleID string) bool {
	for id, sys := range m.Systems {
		if id != sysID && slices.Contains(sys.Modules, moduleID) {
			return true
		}
	}
	return false
}

// POST /modules/{id}/load: admin, as PlaceOS. PlaceOS asks the module's core node to load it
// (and start it when it is running); an engine node loads every module it owns by itself, so
// load makes sure a running module is running on its owner — the module start path, which waits
// for it — and does nothing to a stopped one. Answers true, as PlaceOS.
func (s *Server) handleModuleLoad(w http.ResponseWriter, r *http.Request) {
	mod, ok := s.clearedModule(w, r, auth.ClearanceAdmin)
	if !ok {
		return
	}
	if mod.Running {
		if err := s.cfg.Engine.StartModule(r.Context(), mod.ID); err != nil {
			s.writeError(w, r, err, moduleTarget(r))
			return
		}
	}
	writeRaw(w, http.StatusOK, []byte("true"))
}

// clearedModule is the route's module of this node's model once the caller's clearance is at
// least min; false when the response (a refusal, module_not_found) is written.
func (s *Server) clearedModule(w http.ResponseWriter, r *http.Request, min auth.Clearance) (*model.Module, bool) {
	t := moduleTarget(r)
	if err := needClearance(r, min); err != nil {
		s.writeError(w, r, err, t)
		return nil, false
	}
	if s.cfg.Models == nil {
		s.writeError(w, r, ErrNoManager, t)
		return nil, false
	}
	m, _ := s.cfg.Models.Model()
	mod := m.Modules[t.ModuleID]
	if mod == nil {
		s.writeError(w, r, errkind.Wrap(errModuleNotFound, nil, "could not find module %s", t.ModuleID), t)
		return nil, false
	}
	return mod, true
}
