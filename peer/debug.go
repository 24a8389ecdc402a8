package peer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/httpwire"
)

// Severities of the debugger frames [severity, "line"], numbered as Crystal's Log::Severity
// (what PlaceOS tools expect from this route).
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

// Debug streams the log lines of a module hosted by the node at httpAddr (host:port, or an
// http(s):// URL) from its debugger route. fn runs on the stream's goroutine; cancel closes the
// stream and waits for it.
func (p *Client) Debug(ctx context.Context, httpAddr, moduleID string, fn func(level, msg string)) (cancel func(), err error) {
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
	u.Path = httpwire.NodeBase + "/command/" + url.PathEscape(moduleID) + "/debugger"
	h := http.Header{}
	if p.secret != "" {
		h.Set(auth.ClusterSecretHeader, p.secret)
	}
	if rid := httpwire.RequestID(ctx); rid != "" {
		h.Set(httpwire.RequestIDHeader, rid)
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
