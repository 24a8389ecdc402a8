package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// GET / : liveness. The process answers, so it is alive; readiness is a separate question.
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
}

// GET /api/core/v1/ready: 200 once this node has reconciled its share for the current epoch. A
// node that is not a member of the cluster names that state, which waiting does not end; the why
// and what to do are for GET /cluster and the log: this route answers anyone, and the hint names
// the members' cluster ports.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.Node.NotMember(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, struct {
			Ready bool   `json:"ready"`
			State string `json:"state"`
		}{false, errkind.Classify(err).State})
		return
	}
	if s.cfg.Node.Ready() {
		writeRaw(w, http.StatusOK, []byte(`{"ready":true}`))
		return
	}
	writeRaw(w, http.StatusServiceUnavailable, []byte(`{"ready":false}`))
}

// handleDocument answers a GET with the document doc makes: GET /api/core/v1/status (this node),
// GET /api/core/v1/status/cluster (every node's, asked over the cluster port, for a client that
// cannot reach the other nodes itself, such as the console in a browser), GET /cluster.
func (s *Server) handleDocument(doc func(context.Context) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := doc(r.Context())
		if err != nil {
			s.writeError(w, r, err, call.Target{})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

// GET /api/core/v1/status/loaded: {driver_key: [module ids]}
func (s *Server) handleLoaded(w http.ResponseWriter, r *http.Request) {
	loaded := s.cfg.Node.Loaded()
	if loaded == nil {
		loaded = map[string][]string{}
	}
	writeJSON(w, http.StatusOK, loaded)
}

// driverKey reads the required ?path= naming a driver. The value is a file path, decoded as one:
// a "+" stays a "+" (driver keys of repository drivers hold one, as in drivers+hello_…, and people
// paste them from status/loaded unencoded); a space is sent as %20.
func driverKey(r *http.Request) (string, error) {
	var key string
	for _, kv := range strings.Split(r.URL.RawQuery, "&") {
		if name, raw, _ := strings.Cut(kv, "="); name == "path" {
			v, err := url.PathUnescape(raw)
			if err != nil {
				return "", errkind.Wrap(httpwire.ErrBadParameter, nil, "query parameter path is not URL-encoded: %v", err)
			}
			key = v
			break
		}
	}
	if key == "" {
		return "", errkind.Wrap(httpwire.ErrBadParameter, nil, "query parameter path is required: the driver key, the file path of the binary as GET /api/core/v1/status/loaded lists it")
	}
	return key, nil
}

// driverNotFound says what path names, since people try a driver's id or module name first.
func driverNotFound(key string) error {
	return errkind.Wrap(ErrDriverNotFound, nil, "no driver process on this node runs %s: path is the driver key, the file path of the binary as GET /api/core/v1/status/loaded lists it", key)
}

// GET /api/core/v1/status/driver?path={driver_key}
func (s *Server) handleDriverStatus(w http.ResponseWriter, r *http.Request) {
	key, err := driverKey(r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	st, ok := s.cfg.Node.DriverStatus(key)
	if !ok {
		s.writeError(w, r, driverNotFound(key), call.Target{})
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// POST /api/core/v1/chaos/terminate?path={driver_key}: SIGKILL the driver process; the
// supervisor is expected to restart it.
func (s *Server) handleChaosTerminate(w http.ResponseWriter, r *http.Request) {
	key, err := driverKey(r)
	if err != nil {
		s.writeError(w, r, err, call.Target{})
		return
	}
	if err := s.cfg.Node.KillDriver(key); err != nil {
		if errors.Is(err, errkind.NotFound) {
			err = driverNotFound(key)
		}
		s.writeError(w, r, err, call.Target{})
		return
	}
	s.log.Warn("chaos: driver process killed on request", "driver", key, "request_id", RequestID(r.Context()))
	w.WriteHeader(http.StatusOK)
}
