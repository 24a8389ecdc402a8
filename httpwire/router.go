package httpwire

import (
	"net/http"
	"path"
)

// Router routes requests by method and path on net/http's ServeMux ({name} wildcards, read with
// Request.PathValue), as gorilla/mux did before it, for both route families:
//
//   - the path routed is the decoded one (URL.Path): an escaped slash (%2F) separates segments;
//   - a path that is not clean ("//", "/./", "/../") is redirected to its clean form (301, the
//     query kept) before any route is matched;
//   - a request no route matches goes to the miss function given to NewRouter, told whether a
//     route has the path with another method (then the Allow header is set: a 405) or none
//     does (a 404), so that it answers in the API's own error body.
type Router struct {
	// mux has every route and a catch-all for the rest.
	mux *http.ServeMux
	// strict has every route and nothing else: a miss asks it whether the path has a route.
	strict *http.ServeMux
	routes []string
	miss   func(w http.ResponseWriter, r *http.Request, wrongMethod bool)
}

// NewRouter returns a router without routes; miss answers what none matches.
func NewRouter(miss func(w http.ResponseWriter, r *http.Request, wrongMethod bool)) *Router {
	rt := &Router{mux: http.NewServeMux(), strict: http.NewServeMux(), miss: miss}
	rt.mux.HandleFunc("/", rt.missed)
	return rt
}

// Handle registers h for method and path, a path template with {name} segments ("/" is the
// root alone, not the subtree). A GET route answers HEAD too.
func (rt *Router) Handle(method, path string, h http.HandlerFunc) {
	pattern := path
	if path == "/" {
		pattern = "/{$}"
	}
	rt.mux.HandleFunc(method+" "+pattern, h)
	rt.strict.HandleFunc(method+" "+pattern, h)
	rt.routes = append(rt.routes, method+" "+path)
}

// Routes are the routes registered, "METHOD path-template", in order.
func (rt *Router) Routes() []string { return rt.routes }

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := cleanPath(r.URL.Path); p != r.URL.Path {
		u := *r.URL
		u.Path, u.RawPath = p, ""
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	if r.URL.RawPath != "" {
		// ServeMux matches the escaped path; route the decoded one, as gorilla/mux did. (Both
		// servers hand the router a request they derived themselves, so r is theirs to change;
		// the URL is copied, not changed.)
		u := *r.URL
		u.RawPath = ""
		r.URL = &u
	}
	rt.mux.ServeHTTP(w, r)
}

// missed is the catch-all: it asks strict what ServeMux would answer (404, or 405 with Allow),
// keeps the Allow header and hands the request to miss.
func (rt *Router) missed(w http.ResponseWriter, r *http.Request) {
	h, _ := rt.strict.Handler(r)
	probe := &statusProbe{header: http.Header{}}
	h.ServeHTTP(probe, r) // ServeMux's own answer, kept out of the response
	wrong := probe.status == http.StatusMethodNotAllowed
	if allow := probe.header.Get("Allow"); wrong && allow != "" {
		w.Header().Set("Allow", allow)
	}
	rt.miss(w, r, wrong)
}

// cleanPath is p with "//", "/./" and "/../" resolved and a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p) // no allocation when p is clean already
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}

// statusProbe records the status and header of an answer and throws its body away.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }

func (p *statusProbe) WriteHeader(status int) {
	if p.status == 0 {
		p.status = status
	}
}

func (p *statusProbe) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}
