package sdk

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/placeos-go/engine/errkind"
)

// ErrHTTPStatus is wrapped by HTTPError: the service answered with a non-2xx status.
var ErrHTTPStatus = errkind.New(errkind.Unavailable, "unexpected HTTP status")

// HTTPOptions configure an HTTP client transport. Zero values take the defaults in brackets.
type HTTPOptions struct {
	BaseURI            string        // [the module's uri]
	Timeout            time.Duration // per request [30 s]
	Username, Password string        // basic auth when Username is set
	Headers            http.Header   // sent with every request
	TLS                *tls.Config
	InsecureSkipVerify bool
	MaxIdleConns       int // keep-alive connections kept per host [4]
	// Transport replaces the whole round tripper (tests, proxies).
	Transport http.RoundTripper
}

// HTTP is an HTTP client bound to a module: requests resolve against the base URI, keep
// connections alive, and keep the module's "connected" status: true after a response, false
// after a request that could not reach the service. Its queue is always online; wrap requests
// in a Command (Send) when the service needs them serialised.
type HTTP struct {
	b      *Base
	base   *url.URL
	opts   HTTPOptions
	client *http.Client
}

// HTTPError is a response with a non-2xx status; the exec caller receives code 502 and class
// "HTTPError" unless the driver maps it.
type HTTPError struct {
	Status int
	Method string
	URL    string
	Body   []byte // at most 4 KiB
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, strings.TrimSpace(string(e.Body)))
}

// Unwrap returns ErrHTTPStatus.
func (e *HTTPError) Unwrap() error { return ErrHTTPStatus }

// Code is the exec result code.
func (e *HTTPError) Code() int { return 502 }

// NewHTTP returns an HTTP client for the module that b belongs to.
func NewHTTP(b *Base, o HTTPOptions) (*HTTP, error) {
	if o.BaseURI == "" {
		o.BaseURI = b.Config().URI
	}
	base, err := url.Parse(o.BaseURI)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("%w: base URI %q is not an absolute URL", ErrBadSettings, o.BaseURI)
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = 4
	}
	rt := o.Transport
	if rt == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.MaxIdleConns
		tr.TLSClientConfig = o.TLS
		if tr.TLSClientConfig == nil && o.InsecureSkipVerify {
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the module's settings choose
		}
		rt = tr
	}
	h := &HTTP{b: b, base: base, opts: o, client: &http.Client{Transport: rt, Timeout: o.Timeout}}
	b.Queue().SetOnline(true)
	if tr, ok := rt.(*http.Transport); ok {
		b.Go(func(ctx context.Context) {
			<-ctx.Done()
			tr.CloseIdleConnections()
		})
	}
	return h, nil
}

// URL resolves path (which may carry a query) against the base URI.
func (h *HTTP) URL(path string) string {
	ref, err := url.Parse(path)
	if err != nil {
		return h.base.String() + path
	}
	return h.base.ResolveReference(ref).String()
}

// Do sends req (its URL already absolute) with the client's auth and headers.
func (h *HTTP) Do(req *http.Request) (*http.Response, error) {
	for k, vs := range h.opts.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if h.opts.Username != "" {
		req.SetBasicAuth(h.opts.Username, h.opts.Password)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.b.Set("connected", false)
		return nil, fmt.Errorf("%s %s: %w: %w", req.Method, req.URL, ErrNotConnected, err)
	}
	h.b.Set("connected", true)
	return resp, nil
}

// Request sends method path with body (nil, []byte, string, io.Reader, or a value encoded as
// JSON) and returns the status and the whole response body. A non-2xx status is an *HTTPError.
func (h *HTTP) Request(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	ctype := ""
	switch v := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(v)
	case string:
		rd = strings.NewReader(v)
	case io.Reader:
		rd = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return 0, nil, fmt.Errorf("%s %s: encode body: %w", method, path, err)
		}
		rd, ctype = bytes.NewReader(b), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, h.URL(path), rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %s %s: %w", ErrBadArguments, method, path, err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := h.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, req.URL, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, data, &HTTPError{Status: resp.StatusCode, Method: method, URL: req.URL.String(), Body: data[:min(len(data), 4096)]}
	}
	return resp.StatusCode, data, nil
}

// JSON sends method path with in encoded as JSON (nil: no body) and decodes the response into
// out (nil: ignored).
func (h *HTTP) JSON(ctx context.Context, method, path string, in, out any) error {
	_, data, err := h.Request(ctx, method, path, in)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

// GetJSON is JSON with GET.
func (h *HTTP) GetJSON(ctx context.Context, path string, out any) error {
	return h.JSON(ctx, http.MethodGet, path, nil, out)
}

// PostJSON is JSON with POST.
func (h *HTTP) PostJSON(ctx context.Context, path string, in, out any) error {
	return h.JSON(ctx, http.MethodPost, path, in, out)
}

// PutJSON is JSON with PUT.
func (h *HTTP) PutJSON(ctx context.Context, path string, in, out any) error {
	return h.JSON(ctx, http.MethodPut, path, in, out)
}
