package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
)

// Paging of every list route, as PlaceOS's (docs/protocol.md §9.1): limit defaults to 100;
// PlaceOS reads limit and offset as 32-bit unsigned numbers, so anything else is a 400 here too,
// and a limit above maxListLimit is lowered to it rather than refused.
const (
	defaultListLimit = 100
	maxListLimit     = 10000
)

// listQuery is a list request's page and search.
type listQuery struct {
	limit, offset int
	// terms are q's words in lower case; an entity matches when each is part of its id or name.
	terms []string
}

// parseListQuery reads limit, offset and q.
func parseListQuery(r *http.Request) (listQuery, error) {
	v := r.URL.Query()
	lq := listQuery{limit: defaultListLimit}
	for _, p := range []struct {
		name string
		dst  *int
	}{{"limit", &lq.limit}, {"offset", &lq.offset}} {
		s := v.Get(p.name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return lq, errkind.Wrap(httpwire.ErrBadParameter, nil, "%s %q: must be a whole number from 0 to 4294967295", p.name, s)
		}
		*p.dst = int(n)
	}
	lq.limit = min(lq.limit, maxListLimit)
	// PlaceOS's q is an Elasticsearch simple query string whose default is "*" (everything); the
	// engine searches words, so the wildcard means nothing here.
	for _, w := range strings.Fields(strings.ToLower(v.Get("q"))) {
		if w = strings.Trim(w, "*"); w != "" {
			lq.terms = append(lq.terms, w)
		}
	}
	return lq, nil
}

// matches reports whether every term is part of one of texts (id, name, …).
func (lq listQuery) matches(texts []string) bool {
	for _, t := range lq.terms {
		found := false
		for _, s := range texts {
			if strings.Contains(strings.ToLower(s), t) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// writeList answers a list route: the items q matches, one page of them, X-Total-Count (the
// number matched), Content-Range as PlaceOS sends it ("<kind> <offset>-<offset+n>/<total>"), and
// while more remain a Link header with rel="next" naming the same request at the next offset.
// items is already in the route's order and filtered by the route's own parameters.
func writeList[T any](w http.ResponseWriter, r *http.Request, lq listQuery, rangeName string, items []T, text func(T) []string) {
	writeJSON(w, http.StatusOK, listPage(w, r, lq, rangeName, items, text))
}

// listPage is writeList's page, its headers set, for a route that adds to each item before it
// writes them.
func listPage[T any](w http.ResponseWriter, r *http.Request, lq listQuery, rangeName string, items []T, text func(T) []string) []T {
	matched := make([]T, 0, len(items))
	for _, it := range items {
		if lq.matches(text(it)) {
			matched = append(matched, it)
		}
	}
	total := len(matched)
	start := min(lq.offset, total)
	end := min(start+lq.limit, total)
	page := matched[start:end]
	h := w.Header()
	h.Set("X-Total-Count", strconv.Itoa(total))
	h.Set("Content-Range", rangeName+" "+strconv.Itoa(lq.offset)+"-"+strconv.Itoa(lq.offset+len(page))+"/"+strconv.Itoa(total))
	// PlaceOS's next offset is one past the page's end (it skips an item); the engine's is the
	// page's end. A limit of 0 never advances, so it gets no next link.
	if end < total && lq.limit > 0 {
		next := url.Values{}
		for k, vs := range r.URL.Query() {
			next[k] = vs
		}
		next.Set("offset", strconv.Itoa(end))
		next.Set("limit", strconv.Itoa(lq.limit))
		// Spaces as %20, not +: ts-client reads the link's query with decodeURIComponent, which
		// leaves a + as it is (and sends it back as a literal +).
		query := strings.ReplaceAll(next.Encode(), "+", "%20")
		h.Set("Link", `<`+r.URL.Path+`?`+query+`>; rel="next"`)
	}
	return page
}
