package peer

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// execBodyDecoding is execBody as it was before it read the body in place.
func execBodyDecoding(data []byte) (string, json.RawMessage, error) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(data, &body); err != nil {
		return "", nil, errkind.Wrap(httpwire.ErrMalformedJSON, nil, "malformed JSON body: %v", err)
	}
	var fn string
	if err := json.Unmarshal(body["__exec__"], &fn); err != nil || fn == "" {
		return "", nil, errkind.Wrap(httpwire.ErrBadBody, nil, `body must be {"__exec__": "<function>", "<function>": <args>}`)
	}
	return fn, body[fn], nil
}

// FuzzExecBody: execBody answers as decoding the body did.
func FuzzExecBody(f *testing.F) {
	for _, s := range []string{
		`{"__exec__":"power","power":[true]}`, `{"__exec__":"power"}`, `null`, `{`, ``, `["power"]`, `{"power":[]}`,
		`{"__exec__":1}`, `{"__exec__":"","":[]}`, `{"__exec__":"a","a":[1],"a":{"x":2},"__exec__":"b","b":null}`,
		`{"\u005f_exec__":"p\u006fwer","power":[1]}`, ` {"__exec__" : "x" , "x" : [ 1 ] } `, "\f{}", `{"__exec__":null}`,
		`{"__exec__":"__exec__"}`, `{"__exec__":"say \"hi\"","say \"hi\"":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fn, args, err := execBody(data)
		wfn, wargs, werr := execBodyDecoding(data)
		if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) {
			t.Fatalf("%q: %v, decoding says %v", data, err, werr)
		}
		if fn != wfn || !bytes.Equal(args, wargs) || (args == nil) != (wargs == nil) {
			t.Fatalf("%q: %q %s, decoding says %q %s", data, fn, args, wfn, wargs)
		}
	})
}
