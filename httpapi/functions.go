package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/placeos-go/engine/errkind"
)

// GET /systems/{sys}/functions/{Name_N}: the functions the caller may call, in declaration order.
func (s *Server) handleFunctions(w http.ResponseWriter, r *http.Request) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	if t.ModuleID, err = s.resolve(r.Context(), t); err != nil {
		s.writeError(w, r, err, t)
		return
	}
	md, err := s.loadMetadata(r.Context(), t.ModuleID)
	if errors.Is(err, errkind.NotFound) {
		err = fail(ErrModuleNotFound, err, "metadata not found for %s_%d on %s", t.Name, t.Index, t.SysID)
	}
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	writeRaw(w, http.StatusOK, functionListing(md, CallerFrom(r.Context()).Clearance))
}

// functionListing renders {fn: {"arity": n, "params": {name: schema}, "order": [names]}} for the
// functions visible at clearance c. It writes the JSON by hand because both the functions and
// their parameters must stay in declaration order, which encoding/json maps would sort away.
func functionListing(md *metadata, c Clearance) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, name := range md.order {
		if !md.allowed(name, c) {
			continue
		}
		f := md.funcs[name]
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeString(&b, name)
		b.WriteString(`:{"arity":`)
		b.WriteString(strconv.Itoa(len(f.params)))
		b.WriteString(`,"params":{`)
		for i, p := range f.params {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, p.name)
			b.WriteByte(':')
			if p.schema == nil || json.Compact(&b, p.schema) != nil {
				b.WriteString("{}") // legacy metadata has no schema to show
			}
		}
		b.WriteString(`},"order":[`)
		for i, p := range f.params {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, p.name)
		}
		b.WriteString("]}")
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}
