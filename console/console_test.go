package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestServe: the page at Path and Path/, each file with its type and the security headers, and
// nothing else (the caller answers its own 404).
func TestServe(t *testing.T) {
	t.Parallel()
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{Path, Path + "/"}
	for n := range h.files {
		paths = append(paths, Path+"/"+n)
	}
	for _, p := range paths {
		rec := httptest.NewRecorder()
		if !h.Serve(rec, httptest.NewRequest(http.MethodGet, p, nil)) {
			t.Fatalf("GET %s: not served", p)
		}
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s: %d, %d bytes", p, rec.Code, rec.Body.Len())
		}
		if rec.Header().Get("ETag") == "" || rec.Header().Get("Content-Type") == "" {
			t.Errorf("GET %s: headers %v", p, rec.Header())
		}
		for k, v := range SecurityHeaders {
			if rec.Header().Get(k) != v {
				t.Errorf("GET %s: %s = %q", p, k, rec.Header().Get(k))
			}
		}
	}
	for _, p := range []string{"/", Path + "x", Path + "/nope.js", Path + "/web/app.js", "/other/app.js"} {
		if h.Serve(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil)) {
			t.Errorf("GET %s: served, want not found", p)
		}
	}
}

// TestPolicy: the policy the console is written to, and what keeps it true. The CSP forbids
// inline script and inline style, so the page must have neither (it would silently not run); the
// scripts must build markup from text only, so a status value or compiler message can never
// become HTML.
func TestPolicy(t *testing.T) {
	t.Parallel()
	csp := SecurityHeaders["Content-Security-Policy"]
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") {
		t.Errorf("Content-Security-Policy %q allows something unsafe", csp)
	}
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	page := string(h.files["index.html"].body)
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(m, `src="/console/`) {
			t.Errorf("index.html: inline or foreign script %s", m)
		}
	}
	if regexp.MustCompile(`(?i)\son[a-z]+=|\sstyle=|<style`).MatchString(page) {
		t.Error("index.html has an inline handler or style, which the policy blocks")
	}
	if regexp.MustCompile(`(?i)(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("index.html loads something from another host: nodes often have no internet")
	}
	imports := regexp.MustCompile(`from '\./([a-z]+\.js)'`)
	total := 0
	for name, f := range h.files {
		total += len(f.body)
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		src := string(f.body)
		for _, banned := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "document.cookie"} {
			if strings.Contains(src, banned) {
				t.Errorf("%s uses %s", name, banned)
			}
		}
		for _, m := range imports.FindAllStringSubmatch(src, -1) {
			if _, ok := h.files[m[1]]; !ok {
				t.Errorf("%s imports %s, which is not embedded", name, m[1])
			}
		}
	}
	// Fast on a phone: the whole console, uncompressed, in a few round trips.
	if total > 64<<10 {
		t.Errorf("the console's files are %d bytes; keep them under 64 KiB", total)
	}
}
