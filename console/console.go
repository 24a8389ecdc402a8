package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Path is where the console is served: Path itself is the page, Path + "/<file>" its files.
const Path = "/console"

//go:embed web
var web embed.FS

// SecurityHeaders are set on every answer of the console. The policy allows nothing but the
// node itself: no inline script (an injected value can never run), no framing (clickjacking),
// and connections to this node only (its REST API and WebSocket).
var SecurityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	"X-Frame-Options":        "DENY",
	"Referrer-Policy":        "no-referrer",
	"X-Content-Type-Options": "nosniff",
	"Cache-Control":          "no-cache", // revalidated by ETag: a new engine serves its own files
}

// file is one embedded file, ready to serve.
type file struct {
	name string
	body []byte
	etag string
	typ  string
}

// Handler serves the console. GET Path answers the page; GET Path/<name> one of its files; any
// other name is 404. It reads nothing from the request but the name, so it needs no credentials.
type Handler struct {
	files map[string]file
}

// New loads the embedded files.
func New() (*Handler, error) {
	h := &Handler{files: map[string]file{}}
	err := fs.WalkDir(web, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := web.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "web/")
		typ := mime.TypeByExtension(path.Ext(name))
		if typ == "" {
			return fmt.Errorf("console: no content type for %s", name)
		}
		h.files[name] = file{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, typ: typ}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: load files: %w", err)
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fmt.Errorf("console: index.html is not embedded")
	}
	return h, nil
}

// lookup finds the file a request path names: Path is the page, Path/<name> a file.
func (h *Handler) lookup(p string) (file, bool) {
	if p == Path || p == Path+"/" {
		return h.files["index.html"], true
	}
	name, ok := strings.CutPrefix(p, Path+"/")
	if !ok {
		return file{}, false
	}
	f, ok := h.files[name]
	return f, ok
}

// Serve answers a GET or HEAD of the page or one of its files, and reports false when the path
// names none, so that the caller answers its own 404.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request) bool {
	f, ok := h.lookup(r.URL.Path)
	if !ok {
		return false
	}
	hdr := w.Header()
	for k, v := range SecurityHeaders {
		hdr.Set(k, v)
	}
	hdr.Set("Content-Type", f.typ)
	hdr.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
	return true
}
