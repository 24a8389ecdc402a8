package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/model"
)

func TestParseSlug(t *testing.T) {
	t.Parallel()
	tests := []struct {
		slug    string
		name    string
		index   int
		wantErr bool
	}{
		{"Display_1", "Display", 1, false},
		{"Display_2", "Display", 2, false},
		{"Display", "Display", 1, false},
		{"Main_Display", "Main_Display", 1, false},
		{"Main_Display_3", "Main_Display", 3, false},
		{"Display_01", "Display", 1, false},
		{"Display_", "Display_", 1, false},
		{"Display_x1", "Display_x1", 1, false},
		{"_Hidden", "_Hidden", 1, false},
		{"_Hidden_2", "_Hidden", 2, false},
		{"Display_+2", "Display", 2, false},
		{"Display_0", "", 0, true},
		{"Display_-1", "", 0, true},
		{"Display_99999999999999999999", "", 0, true},
		{"_1", "", 0, true},
		{"", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			t.Parallel()
			name, index, err := ParseSlug(tt.slug)
			if tt.wantErr {
				if !errors.Is(err, ErrBadSlug) {
					t.Fatalf("ParseSlug(%q) error = %v, want ErrBadSlug", tt.slug, err)
				}
				return
			}
			if err != nil || name != tt.name || index != tt.index {
				t.Fatalf("ParseSlug(%q) = (%q, %d, %v), want (%q, %d)", tt.slug, name, index, err, tt.name, tt.index)
			}
		})
	}
}

// FuzzParseSlug: every slug a URL can carry. Properties: a refusal is ErrBadSlug (400); an
// accepted slug either is the whole name with index 1 (and then does not end in "_<integer>",
// which would have been split), or is name + "_" + a suffix that reads as the index; and
// formatting the result as Name_N parses back to the same name and index.
func FuzzParseSlug(f *testing.F) {
	for _, s := range []string{"Display_1", "Main_Display", "Display_0", "_1", "", "a_b_3", "x_-0", "Ü_2",
		"Display_", "Display__2", "Display_+2", "Display_ 2", "Display_2 ", "Display_99999999999999999999",
		"Display_0x10", "Display_1_", "_", "__", "_Hidden", "Display_1e3", "D\x00_4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, slug string) {
		name, index, err := ParseSlug(slug)
		if err != nil {
			if !errors.Is(err, ErrBadSlug) {
				t.Fatalf("error %v is not ErrBadSlug", err)
			}
			return
		}
		if name == "" || index < 1 {
			t.Fatalf("ParseSlug(%q) = (%q, %d)", slug, name, index)
		}
		// Name_N is how clients write the result back (docs/protocol.md §2): it must mean the same module.
		canon := name + "_" + strconv.Itoa(index)
		if n2, i2, err := ParseSlug(canon); err != nil || n2 != name || i2 != index {
			t.Fatalf("ParseSlug(%q) = (%q, %d), but %q parses as (%q, %d, %v)", slug, name, index, canon, n2, i2, err)
		}
		// Either the slug is the whole name, or it is name + "_" + a suffix that reads as index.
		if name == slug {
			if index != 1 {
				t.Fatalf("whole-slug name with index %d", index)
			}
			if i := strings.LastIndexByte(slug, '_'); i >= 0 {
				if _, err := strconv.Atoi(slug[i+1:]); err == nil {
					t.Fatalf("ParseSlug(%q) kept an integer suffix in the name", slug)
				}
			}
			return
		}
		suffix, ok := strings.CutPrefix(slug, name+"_")
		if !ok {
			t.Fatalf("ParseSlug(%q): name %q is not a prefix", slug, name)
		}
		if strings.Contains(suffix, "_") {
			t.Fatalf("ParseSlug(%q) split at %q, not at the last underscore", slug, suffix)
		}
		if n, err := strconv.Atoi(suffix); err != nil || n != index {
			t.Fatalf("ParseSlug(%q): suffix %q does not read as %d", slug, suffix, index)
		}
	})
}

// fuzzModel is the management API's starting model in FuzzRESTRequest.
const fuzzModel = `{
  "drivers": [{"id": "drv-1", "module_name": "Display", "role": "device", "binary": "/bin/display"}],
  "modules": [{"id": "mod-1", "driver_id": "drv-1", "running": true}],
  "systems": [{"id": "sys-1", "name": "Room", "modules": ["mod-1"]}]
}`

// fuzzModels is the management API over an in-memory model store, on the leader.
type fuzzModels struct{ *model.Memory }

func (fuzzModels) IsLeader() bool                { return true }
func (fuzzModels) Barrier(context.Context) error { return nil }
func (fuzzModels) Leader() (string, string)      { return "n1", "" }

// panicWatch is a log sink that notices the middleware's panic recovery.
type panicWatch struct{ panicked atomic.Bool }

func (p *panicWatch) Write(b []byte) (int, error) {
	if bytes.Contains(b, []byte("handler panicked")) {
		p.panicked.Store(true)
	}
	return len(b), nil
}

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodPatch, http.MethodOptions}

// FuzzRESTRequest sends arbitrary method, path (with query) and body through the whole handler:
// routing, path variables and slugs, query parameters and body decoding, over fake engine
// and management back ends. Properties: no handler panics (the recovery middleware would
// answer 500); every answer carries X-Request-ID; every error answer is the docs/protocol.md §6 error
// body with a known error name and a message.
func FuzzRESTRequest(f *testing.F) {
	for _, s := range []struct {
		method uint8
		target string
		body   string
	}{
		{1, ClientBase + "/systems/sys-1/Display_1/power", `[true]`},
		{1, ClientBase + "/systems/sys-1/Display_2/volume?timeout=5", `{"level": 3}`},
		{1, ClientBase + "/systems/sys-1/Display_0/power", ``},
		{1, ClientBase + "/systems/sys-1/_1/power", `1`},
		{1, ClientBase + "/systems/sys-1/Display_1/volume?timeout=-1", `[`},
		{0, ClientBase + "/systems/sys-1/Display_1", ``},
		{0, ClientBase + "/systems/sys-1/Display_1/broken", ``},
		{0, ClientBase + "/systems/sys-1/functions/Display_99999999999999999999", ``},
		{0, ClientBase + "/systems/nope/types", ``},
		{0, ClientBase + "/systems/control", ``},
		{0, ClientBase + "/modules/mod-gone/state", ``},
		{1, ClientBase + "/modules/mod-1/exec/power", `[true, 1]`},
		{1, ClientBase + "/modules/mod-gone/stop", ``},
		{0, ClientBase + "/drivers?consistent=true", ``},
		{1, ClientBase + "/drivers", `{"id": "drv-2", "module_name": "X", "role": "device", "binary": "/x"}`},
		{1, ClientBase + "/drivers", `null`},
		{1, ClientBase + "/systems", `{"id": "", "name": "x"}`},
		{2, ClientBase + "/modules/mod-2", `{"id": "mod-3", "driver_id": "drv-1"}`},
		{2, ClientBase + "/model", `{"zones": [{"id": "z", "name": "Z"}]}`},
		{2, ClientBase + "/model", `{"drivers": [null]}`},
		{3, ClientBase + "/drivers/drv-1", ``},
		{3, ClientBase + "/zones/nope", ``},
		{1, ClientBase + "/repositories/r/pull", ``},
		{1, ClientBase + "/drivers/drv-1/recompile", ``},
		{0, ClientBase + "/cluster", ``},
		{0, AuthorityPath, ``},
		{4, "/", ``},
		{0, NodeBase + "/status/driver?path=drv%2Fdisplay", ``},
		{1, NodeBase + "/chaos/terminate?path=", ``},
		{5, ClientBase + "/systems/sys-1/types", ``},
		{0, "/api/engine/v2/systems/sys-1/Display_1/../Display_2", ``},
		{0, "/api/engine/v2/systems/sys%2F1/Display%5F1", ``},
		{0, "//api/engine/v2//systems", ``},
	} {
		f.Add(s.method, s.target, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method uint8, target string, body []byte) {
		req, err := http.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], "http://"+testHost+target, bytes.NewReader(body))
		if err != nil || req.URL.Host != testHost {
			return // not a request a client can send
		}
		eng := newFakeEngine()
		store := model.NewMemory()
		seed, _ := model.ParseFile([]byte(fuzzModel))
		if err := store.Apply(context.Background(), seed); err != nil {
			t.Fatal(err)
		}
		var pw panicWatch
		log := hclog.New(&hclog.LoggerOptions{Output: &pw, Level: hclog.Error})
		srv := New(Config{
			Logger: log,
			Engine: eng,
			Node:   eng,
			Auth:   fakeAuth{},
			Models: fuzzModels{store},
		})
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)

		if pw.panicked.Load() {
			t.Fatalf("%s %s (body %q): a handler panicked", req.Method, target, body)
		}
		if rec.Header().Get(RequestIDHeader) == "" {
			t.Fatalf("%s %s: no %s", req.Method, target, RequestIDHeader)
		}
		if rec.Code < 100 || rec.Code > 599 {
			t.Fatalf("%s %s: status %d", req.Method, target, rec.Code)
		}
		if rec.Code < 400 || req.Method == http.MethodHead || req.URL.Path == NodeBase+"/ready" {
			return
		}
		var eb httpwire.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
			t.Fatalf("%s %s: %d with a body that is not the error shape: %q", req.Method, target, rec.Code, rec.Body)
		}
		// PlaceOS's names, and the two REST refines (docs/protocol.md §6.2).
		known := eb.Error == errkind.NameUnauthorized || eb.Error == errkind.NameEntityNotFound
		for c := errkind.CodeParseError; c <= errkind.CodeUnexpectedFailure; c++ {
			known = known || eb.Error == c.String()
		}
		if !known || eb.Message == "" {
			t.Fatalf("%s %s: %d error body %q", req.Method, target, rec.Code, rec.Body)
		}
	})
}
