package httpwire

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestRouter: routes by method and decoded path, the most specific pattern first; what matches
// no route goes to miss (405 with Allow when the path has a route for another method); a path
// that is not clean is redirected first.
func TestRouter(t *testing.T) {
	t.Parallel()
	rt := NewRouter(func(w http.ResponseWriter, r *http.Request, wrongMethod bool) {
		if wrongMethod {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	answer := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s %s", name, r.PathValue("a"), r.PathValue("b"))
		}
	}
	rt.Handle(http.MethodGet, "/", answer("root"))
	rt.Handle(http.MethodGet, "/x/{a}/{b}", answer("ab"))
	rt.Handle(http.MethodGet, "/x/{a}/static", answer("static"))
	rt.Handle(http.MethodPost, "/x/{a}/{b}", answer("post"))
	tests := []struct {
		method, target string
		status         int
		body, allow    string
		location       string
	}{
		{"GET", "/", 200, "root  ", "", ""},
		{"HEAD", "/", 200, "", "", ""},
		{"POST", "/", 405, "", "GET, HEAD", ""},
		{"GET", "/nope", 404, "", "", ""},
		{"GET", "/x/1/2", 200, "ab 1 2", "", ""},
		{"POST", "/x/1/2", 200, "post 1 2", "", ""},
		{"GET", "/x/1/static", 200, "static 1 ", "", ""},
		{"DELETE", "/x/1/2", 405, "", "GET, HEAD, POST", ""},
		{"GET", "/x/1%5F/2", 200, "ab 1_ 2", "", ""},
		{"GET", "/x/1%2F2/3", 404, "", "", ""}, // an escaped slash separates, as in the decoded path
		{"GET", "/x/1/2/", 404, "", "", ""},
		{"GET", "/x//1/2?q=1", 301, "", "", "/x/1/2?q=1"},
		{"GET", "/x/./1/../1/2", 301, "", "", "/x/1/2"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != tt.status || (tt.method != "HEAD" && rec.Body.String() != tt.body) ||
			rec.Header().Get("Allow") != tt.allow || rec.Header().Get("Location") != tt.location {
			t.Errorf("%s %s: %d %q Allow %q Location %q", tt.method, tt.target, rec.Code, rec.Body.String(),
				rec.Header().Get("Allow"), rec.Header().Get("Location"))
		}
	}
	if got := fmt.Sprint(rt.Routes()); got != "[GET / GET /x/{a}/{b} GET /x/{a}/static POST /x/{a}/{b}]" {
		t.Errorf("Routes() = %s", got)
	}
}
