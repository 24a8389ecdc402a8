package sdk

import (
	"context"
	"crypto/tls"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// WebSocket is the WebSocket client transport; see Conn. Every message is one frame unless a
// Tokenizer is given.
type WebSocket = Conn

// WebSocketOptions configure a WebSocket client transport.
type WebSocketOptions struct {
	URI                string      // ws:// or wss:// [the module's uri]
	Headers            http.Header // sent with the handshake (auth tokens)
	Binary             bool        // send binary messages [text]
	TLS                *tls.Config
	InsecureSkipVerify bool
	Tokenizer          *Tokenizer
	Received           func(frame []byte, t *Task)
	OnConnect          func(ctx context.Context, ws *WebSocket)
	MinBackoff         time.Duration
	MaxBackoff         time.Duration
}

// NewWebSocket starts a WebSocket client transport for the module that b belongs to.
func NewWebSocket(b *Base, o WebSocketOptions) *WebSocket {
	if o.URI == "" {
		o.URI = b.Config().URI
	}
	tlsCfg := o.TLS
	if tlsCfg == nil && o.InsecureSkipVerify {
		tlsCfg = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the module's settings choose
	}
	msgType := websocket.TextMessage
	if o.Binary {
		msgType = websocket.BinaryMessage
	}
	dial := func(ctx context.Context) (link, error) {
		d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}
		c, resp, err := d.DialContext(ctx, o.URI, o.Headers)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			return nil, err
		}
		return &wsLink{c: c, typ: msgType}, nil
	}
	return newConn(b, connConfig{kind: "websocket", addr: o.URI, dial: dial, tokenizer: o.Tokenizer,
		received: o.Received, onConnect: o.OnConnect, minBackoff: o.MinBackoff, maxBackoff: o.MaxBackoff})
}

type wsLink struct {
	c   *websocket.Conn
	typ int
	wmu sync.Mutex // gorilla allows one writer at a time
}

func (w *wsLink) read() ([]byte, error) {
	_, msg, err := w.c.ReadMessage()
	return msg, err
}

func (w *wsLink) write(ctx context.Context, data []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	dl, _ := ctx.Deadline()
	_ = w.c.SetWriteDeadline(dl)
	return w.c.WriteMessage(w.typ, data)
}

func (w *wsLink) close() error { return w.c.Close() }
