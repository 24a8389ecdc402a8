package httpapi

import (
	"encoding/json"
	"strconv"
	"sync"
)

// wsHead is the fixed start of a binding's notify, `{"id":…,"type":"notify","meta":…,"value":`,
// shared by every binding with the same id and meta — sessions of the same front-end page bind the
// same statuses with the same ids — together with the last notify built from it. The value of a
// change is one slice handed to every watch of its status (package subscriptions), so a change
// fanned out to a thousand such sessions is validated and encoded once, and the thousand queues
// hold the same bytes.
type wsHead struct {
	prefix string // also its key in wsRegistry.heads
	refs   int    // bindings holding it; guarded by wsRegistry.mu

	mu    sync.Mutex
	value []byte // the value msg was built from: that very slice (values are never modified)
	msg   []byte
}

// acquireHead is the head of a binding with id and meta, shared with the other bindings that
// have the same.
func (s *Server) acquireHead(id int64, meta json.RawMessage) *wsHead {
	b := make([]byte, 0, len(meta)+48)
	b = strconv.AppendInt(append(b, `{"id":`...), id, 10)
	b = append(append(append(b, `,"type":"notify","meta":`...), meta...), `,"value":`...)
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	h := s.ws.heads[string(b)]
	if h == nil {
		if s.ws.heads == nil {
			s.ws.heads = map[string]*wsHead{}
		}
		h = &wsHead{prefix: string(b)}
		s.ws.heads[h.prefix] = h
	}
	h.refs++
	return h
}

// releaseHead gives back what acquireHead returned.
func (s *Server) releaseHead(h *wsHead) {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	if h.refs--; h.refs == 0 {
		delete(s.ws.heads, h.prefix)
	}
}

// notify is the notify of value v: the one built last when v is the same change, else a new one.
// Built by hand: json.Marshal would re-validate and compact the value, which is JSON text already.
func (h *wsHead) notify(ss *wsSession, v []byte) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(v) == len(h.value) && len(v) > 0 && &v[0] == &h.value[0] {
		return h.msg
	}
	value := v
	if !json.Valid(v) {
		// A status is always JSON text; anything else would break the client's parser.
		ss.log.Warn("status value is not JSON; sending null", "notify", h.prefix)
		value = []byte("null")
	}
	msg := make([]byte, 0, len(h.prefix)+len(value)+1)
	msg = append(append(append(msg, h.prefix...), value...), '}')
	h.value, h.msg = v, msg
	return msg
}
