package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/placeos-go/engine/errkind"
)

// The outgoing side of a session. Everything a session sends is one text frame, written under
// wmu. The session's own goroutines (the reader, an exec, the heartbeat) write inline when nothing
// is queued (send); delivery callbacks, which must never block, queue (enqueue), and the queue's
// consumer is the writer goroutine, started by the first message queued and ended a second or two
// after the last, so an idle session holds no writer, no queue and no write buffer (gorilla
// borrows one from wsWriteBuffers per message).

// wsPong is the answer to a text "ping" and the periodic heartbeat.
var wsPong = []byte("pong")

// enqueue queues a message without ever blocking: a client that does not read is disconnected,
// so it slows neither the Redis reader nor other sessions.
func (ss *wsSession) enqueue(msg []byte) {
	if !ss.out.Push(msg) {
		ss.log.Warn("websocket client too slow: outgoing queue full, disconnecting", "queue", ss.out.Limit(),
			"queue_bytes", ss.out.MaxSize())
		ss.killSlow()
	}
}

// msgSize weighs a queued message for the queue's byte bound.
func msgSize(b []byte) int { return len(b) }

// send writes msg from the calling goroutine when nothing is queued and no write is under way
// (the usual case for a client waiting on its answer), saving the hand-off to the writer; else
// it queues msg as enqueue does. The write is bounded as the writer's, so only the session's own
// goroutines call it, never a delivery callback.
func (ss *wsSession) send(msg []byte) {
	if ss.wmu.TryLock() {
		if ss.out.Pending() == 0 {
			select {
			case <-ss.dead:
			default:
				ss.write(msg)
			}
			ss.wmu.Unlock()
			return
		}
		ss.wmu.Unlock()
	}
	ss.enqueue(msg)
}

// sendNow writes msg before it returns, after the message being written: for an answer that
// must reach the client before the session closes, when the queue's waiting messages are dropped.
func (ss *wsSession) sendNow(msg []byte) {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	select {
	case <-ss.dead:
	default:
		ss.write(msg)
	}
}

// write writes one message; the caller holds wmu. A failed write ends the session.
func (ss *wsSession) write(b []byte) {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
	if err := ss.conn.WriteMessage(websocket.TextMessage, validText(b)); err != nil {
		ss.kill("write failed: " + err.Error())
	}
}

// validText is b as a text frame may carry it: RFC 6455 requires UTF-8, and a browser fails the
// whole connection — every binding of the session — on a frame that is not. A status value or a
// driver's result is JSON text, but encoding/json lets invalid bytes through inside its strings,
// and Redis holds whatever a driver stored; each run of such bytes becomes U+FFFD, which keeps the
// JSON valid (they can only be inside strings). A valid frame, the usual one, costs one scan.
func validText(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, replacementChar)
}

var replacementChar = []byte(string(utf8.RuneError))

// writeQueued is the writer: it writes each queued message in turn.
func (ss *wsSession) writeQueued(b []byte) {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	ss.write(b)
}

// closeConn runs on the writer once the session ends: the close frame, then the connection
// closed, which wakes the reader.
func (ss *wsSession) closeConn() {
	ss.wmu.Lock() // no inline write after the close frame: send sees dead
	_ = ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
	_ = ss.conn.WriteMessage(websocket.CloseMessage,
		websocket.FormatCloseMessage(ss.code, truncate(ss.why, 100)))
	ss.wmu.Unlock()
	_ = ss.conn.Close()
}

// encode is r's JSON text.
func (ss *wsSession) encode(r wsReply) []byte {
	b, err := marshalReply(r)
	if err != nil {
		// Only a value that is not valid JSON gets here: tell the client rather than go quiet.
		ss.log.Error("reply does not encode", "error", err, "id", r.ID)
		b, _ = marshalReply(errorReply(r.ID, errkind.CodeUnexpectedFailure, http.StatusInternalServerError, "reply does not encode as JSON"))
	}
	return b
}

// replyEncoders encode replies without HTML escaping: meta echoes the client's own JSON byte
// for byte (docs/protocol.md §7), which json.Marshal would change where it holds <, >, & or
// U+2028/U+2029, and a WebSocket message is never read as HTML.
var replyEncoders = sync.Pool{New: func() any {
	e := &replyEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}}

type replyEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// marshalReply is r's JSON text: json.Marshal's, without its HTML escaping.
func marshalReply(r wsReply) ([]byte, error) {
	e := replyEncoders.Get().(*replyEncoder)
	defer replyEncoders.Put(e)
	e.buf.Reset()
	if err := e.enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(e.buf.Bytes(), []byte{'\n'})), nil
}

// reply answers a request, from the reader or an exec.
func (ss *wsSession) reply(r wsReply) { ss.send(ss.encode(r)) }

// heartbeat runs every WSPongInterval on a timer (no goroutine of its own between beats): PlaceOS's
// unsolicited text "pong", and a WebSocket ping. A client that sent nothing, not even the pong
// its browser or library answers a ping with, between one heartbeat and the next is gone (a
// frozen process, a half-open connection that TCP has not noticed) and is disconnected — unless
// the reader was held up handling a frame, when the answer may be waiting unread.
func (ss *wsSession) heartbeat() {
	ss.mu.Lock()
	if ss.beat == nil { // the session ended
		ss.mu.Unlock()
		return
	}
	silent := ss.pinged && !ss.heard.Swap(false) && !ss.busy.Load()
	ss.pinged = true
	ss.beat.Reset(ss.s.cfg.WSPongInterval)
	ss.mu.Unlock()
	if silent {
		ss.log.Info("websocket client silent since the last heartbeat (no pong to its ping): disconnecting",
			"interval", ss.s.cfg.WSPongInterval)
		ss.kill("no pong")
		return
	}
	ss.send(wsPong)
	// WriteControl is safe beside the other writes; it waits for one under way, within the deadline.
	_ = ss.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteTimeout))
}
