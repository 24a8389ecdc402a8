package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/call"
)

// benchEngine answers every execute at once with the same result.
type benchEngine struct{ *fakeEngine }

func (benchEngine) Execute(_ context.Context, req call.Request) (call.Result, error) {
	return call.Result{ModuleID: "mod-1", Value: benchResult, Code: 200}, nil
}

var benchResult = json.RawMessage(`[1]`)

// benchWriter is a ResponseWriter that keeps nothing but the status, reused between requests.
type benchWriter struct {
	h    http.Header
	code int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }

// SetWriteDeadline is there as on net/http's writers (the middleware sets one per request).
func (w *benchWriter) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkServeExec is a REST execute through the whole handler chain (limits, request id,
// authentication, browser rules, routing, argument reading, the answer) with an engine that
// costs nothing: what package httpapi allocates per execute.
//
//	go test -run '^$' -bench '^BenchmarkServeExec$' -benchmem ./httpapi/
func BenchmarkServeExec(b *testing.B) {
	serve := serveExecLoop(b)
	serve()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		serve()
	}
}

// serveExecAllocs is what a REST execute may allocate in package httpapi and net/http's ServeMux
// (its path values: 3), the engine aside: see TestServeExecAllocations.
const serveExecAllocs = 7

// TestServeExecAllocations holds the handler chain to its allocations per execute (counted, not
// timed: the count is deterministic). Every allocation is a cost on each of the node's executes;
// if a change needs one more, say why here and raise serveExecAllocs.
func TestServeExecAllocations(t *testing.T) {
	serve := serveExecLoop(t)
	if n := testing.AllocsPerRun(200, serve); n > serveExecAllocs {
		t.Errorf("a REST execute allocates %.0f times in the handler chain, want at most %d (go test -run '^$' -bench '^BenchmarkServeExec$' -benchmem -memprofile mem.out ./httpapi/ shows where)", n, serveExecAllocs)
	}
}

// serveExecLoop returns a function that serves one REST execute, reusing request and writer.
func serveExecLoop(tb testing.TB) func() {
	tb.Helper()
	eng := benchEngine{newFakeEngine()}
	none, err := auth.New(auth.Config{Disabled: true}) // --auth none, as BenchmarkExecute's engine
	if err != nil {
		tb.Fatal(err)
	}
	srv := New(Config{Logger: hclog.NewNullLogger(), Engine: eng, Node: eng.fakeEngine, Auth: none})
	h := srv.Handler()
	body := strings.NewReader(`[1]`)
	r := newRequest(http.MethodPost, ClientBase+"/systems/sys-1/Display_1/power", nil)
	r.Header.Set("Content-Type", "application/json")
	w := &benchWriter{h: http.Header{}}
	return func() {
		body.Reset(`[1]`)
		r.Body, r.ContentLength = readCloser{body}, 3
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			tb.Fatalf("status %d", w.code)
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// BenchmarkWSValidText is what the UTF-8 guard of every WebSocket frame costs (validText): one
// scan of a valid frame — a notify of a few statuses' size, and a 4 KiB exec result.
//
//	go test -run '^$' -bench '^BenchmarkWSValidText$' -benchmem ./httpapi/
func BenchmarkWSValidText(b *testing.B) {
	notify := []byte(`{"id":12,"type":"notify","meta":{"sys":"sys-1","mod":"Display","index":1,"name":"power"},"value":true}`)
	result := []byte(`{"id":13,"type":"success","value":"` + strings.Repeat("Projector é input ", 220) + `"}`)
	for _, f := range []struct {
		name string
		b    []byte
	}{{"notify", notify}, {"result_4KiB", result}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(f.b)))
			for range b.N {
				if len(validText(f.b)) != len(f.b) {
					b.Fatal("a valid frame changed")
				}
			}
		})
	}
}
