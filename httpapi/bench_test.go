package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
	return call.Result{ModuleID: "mod-1", Value: json.RawMessage(`[1]`), Code: 200}, nil
}

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
	eng := benchEngine{newFakeEngine()}
	none, err := auth.New(auth.Config{Disabled: true}) // --auth none, as BenchmarkExecute's engine
	if err != nil {
		b.Fatal(err)
	}
	srv := New(Config{Logger: hclog.NewNullLogger(), Engine: eng, Node: eng.fakeEngine, Auth: none})
	h := srv.Handler()
	body := strings.NewReader(`[1]`)
	r := httptest.NewRequest(http.MethodPost, ClientBase+"/systems/sys-1/Display_1/power", nil)
	r.Header.Set("Content-Type", "application/json")
	w := &benchWriter{h: http.Header{}}
	serve := func() {
		body.Reset(`[1]`)
		r.Body, r.ContentLength = http.NoBody, 3
		r.Body = readCloser{body}
		clear(w.h)
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	serve()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		serve()
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
