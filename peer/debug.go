package peer

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/errkind"
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

// Debug streams the log lines of a module hosted by the node whose cluster port is at addr
// (host:port) from its debugger route. fn runs on the stream's goroutine; cancel closes the
// stream and waits for it.
func (p *Client) Debug(ctx context.Context, addr, moduleID string, fn func(level, msg string)) (cancel func(), err error) {
	u := url.URL{Scheme: "ws", Host: addr, Path: httpwire.NodeBase + "/command/" + moduleID + "/debugger"} // String escapes the path
	dialer := *websocket.DefaultDialer
	h := http.Header{}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return p.proof.Dial(ctx, addr, 0)
	}
	if p.proof.TLS != nil {
		u.Scheme = "wss"
		dialer.NetDialTLSContext = dial
	} else {
		dialer.NetDialContext = dial
	}
	if rid := httpwire.RequestID(ctx); rid != "" {
		h.Set(httpwire.RequestIDHeader, rid)
	}
	conn, resp, err := dialer.DialContext(ctx, u.String(), h)
	if err != nil {
		switch {
		case resp != nil:
			// The node answered instead of upgrading: its error body says why, as for an execute.
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			_ = resp.Body.Close()
			return nil, httpwire.ProblemOf(resp.StatusCode, body, addr)
		case ctx.Err() != nil:
			return nil, errkind.Wrap(errkind.Timeout, ctx.Err(), "node %s did not answer in time", addr)
		}
		return nil, p.unreachable(addr, err)
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
