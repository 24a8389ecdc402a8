package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
)

// GET /systems/{sys}/functions/{Name_N}: the functions the caller may call, in declaration order.
func (s *Server) handleFunctions(w http.ResponseWriter, r *http.Request) {
	t, err := slugTarget(r)
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	fns, err := s.cfg.Engine.Functions(r.Context(), t, auth.CallerFrom(r.Context()))
	if err != nil {
		s.writeError(w, r, err, t)
		return
	}
	writeRaw(w, http.StatusOK, functionListing(fns))
}

// functionListing renders {fn: {"arity": n, "params": {name: schema}, "order": [names],
// "security": level}} ("security" only for a function under a level). It
// writes the JSON by hand because both the functions and their parameters must stay in
// declaration order, which encoding/json maps would sort away.
func functionListing(fns []call.Function) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fns {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(&b, f.Name)
		b.WriteString(`:{"arity":`)
		b.WriteString(strconv.Itoa(len(f.Params)))
		b.WriteString(`,"params":{`)
		for i, p := range f.Params {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, p.Name)
			b.WriteByte(':')
			if p.Schema == nil || json.Compact(&b, p.Schema) != nil {
				b.WriteString("{}") // legacy metadata has no schema to show
			}
		}
		b.WriteString(`},"order":[`)
		for i, p := range f.Params {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(&b, p.Name)
		}
		b.WriteByte(']')
		if f.Security != "" {
			b.WriteString(`,"security":`)
			writeString(&b, f.Security)
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always encodes
	b.Write(enc)
}
