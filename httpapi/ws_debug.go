package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
)

// Severities of the node debugger frames [severity, "line"], numbered as Crystal's Log::Severity
// (what PlaceOS rest-api expects from core).
var severities = []string{"trace", "debug", "info", "notice", "warn", "error", "fatal"}

func severityNumber(level string) int {
	l := strings.ToLower(level)
	if l == "warning" {
		l = "warn"
	}
	for i, s := range severities {
		if s == l {
			return i
		}
	}
	return 2 // info
}

func severityName(n int) string {
	if n < 0 || n >= len(severities) {
		return "info"
	}
	return severities[n]
}

// GET /api/core/v1/command/{module}/debugger (node-to-node): a WebSocket of [severity, "line"]
// frames for a module this node hosts, for as long as the caller keeps it open.
func (s *Server) handleNodeDebugger(w http.ResponseWriter, r *http.Request) {
	moduleID := mux.Vars(r)["module"]
	if s.cfg.Debugger == nil {
		s.writeError(w, r, fail(ErrUnavailable, nil, "debugging is not available on this node"), target{ModuleID: moduleID})
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }} // nodes only (RequireNode)
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	lines := make(chan []byte, s.cfg.WSQueueSize)
	slow := make(chan struct{})
	var once sync.Once
	ctx, cancelCtx := context.WithTimeout(r.Context(), debugAttachTimeout)
	cancel, err := s.cfg.Debugger.Debug(ctx, moduleID, func(level, msg string) {
		b, _ := json.Marshal([]any{severityNumber(level), msg})
		select {
		case lines <- b:
		default:
			once.Do(func() { close(slow) })
		}
	})
	cancelCtx()
	if err != nil {
		p := Classify(err)
		_ = conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseInternalServerErr, truncate(p.Message, 100)))
		return
	}
	defer cancel()
	// The reader only notices the peer closing.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case b := <-lines:
			_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			if conn.WriteMessage(websocket.TextMessage, b) != nil {
				return
			}
		case <-slow:
			s.log.Warn("debugger peer too slow, closing the stream", "module", moduleID)
			return
		case <-gone:
			return
		}
	}
}

// DialDebugger streams the debug lines of a module hosted by another node, from its
// /api/core/v1/command/{module}/debugger route. httpAddr is the peer's host:port (or an
// http(s):// URL). fn runs on the stream's goroutine. cancel closes the stream and waits for it.
// The lead's Debugger uses it for modules this node does not own.
func DialDebugger(ctx context.Context, httpAddr, clusterSecret, moduleID string, fn func(level, msg string)) (cancel func(), err error) {
	base := httpAddr
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("debugger address %q: %w", httpAddr, err)
	}
	u.Scheme = map[string]string{"https": "wss"}[u.Scheme]
	if u.Scheme == "" {
		u.Scheme = "ws"
	}
	u.Path = NodeBase + "/command/" + url.PathEscape(moduleID) + "/debugger"
	h := http.Header{}
	if clusterSecret != "" {
		h.Set(ClusterSecretHeader, clusterSecret)
	}
	if rid := RequestID(ctx); rid != "" {
		h.Set(RequestIDHeader, rid)
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("debugger on %s: HTTP %d: %w", httpAddr, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("debugger on %s: %w", httpAddr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var frame []json.RawMessage
			var sev int
			var msg string
			if json.Unmarshal(data, &frame) != nil || len(frame) != 2 ||
				json.Unmarshal(frame[0], &sev) != nil || json.Unmarshal(frame[1], &msg) != nil {
				continue // a frame we cannot read is dropped, as PlaceOS does
			}
			fn(severityName(sev), msg)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			_ = conn.Close()
			<-done
		})
	}, nil
}
