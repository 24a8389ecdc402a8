package testutil

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// FailingHTTP starts an HTTP server that answers 500 to every request, a git host in an outage,
// and returns its host:port and the count of requests it has answered; it stops with the test.
func FailingHTTP(tb testing.TB) (addr string, hits func() int64) {
	tb.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), n.Load
}
