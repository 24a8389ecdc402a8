package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// ErrGitStalled means a git server over HTTP(S) sent nothing for Config.GitStallTimeout while a
// clone or fetch waited on it: it took the connection and never answered, or stopped mid-way.
var ErrGitStalled = errors.New("git server stalled")

// go-git v5 has no per-call HTTP client option: a clone or fetch uses the client installed for
// its URL's scheme. So this package installs one client for http and https, once, at init
// (before any goroutine could read go-git's protocol table), whose round trips are bounded on
// silence only when the request's context carries a silenceWatch, as the builder's syncs do;
// any other request passes through unchanged. Redirects and the proxy settings stay go-git's and
// net/http's defaults. (go-git wants an *http.Transport here only for a clone given TLS or proxy
// options of its own, which the builder never sets.)
func init() {
	c := githttp.NewClient(&http.Client{Transport: silenceTransport{base: http.DefaultTransport}})
	client.InstallProtocol("http", c)
	client.InstallProtocol("https", c)
}

type silenceKey struct{}

// silenceWatch is one sync's bound on silence; stalled records that it ended a request, so that
// the sync can say so whatever go-git made of the error.
type silenceWatch struct {
	bound   time.Duration
	stalled atomic.Bool
}

func withSilenceBound(ctx context.Context, bound time.Duration) (context.Context, *silenceWatch) {
	w := &silenceWatch{bound: bound}
	return context.WithValue(ctx, silenceKey{}, w), w
}

func (w *silenceWatch) err() error {
	return fmt.Errorf("%w: nothing came from the server for %s", ErrGitStalled, w.bound)
}

// silenceTransport bounds the silence of a request, not its length: a big repository on a slow
// link still clones, while a server that takes the connection and never answers, or stops
// sending, fails the request after the bound. The clock runs while the request waits on the
// server (dial, TLS, the response's headers) and while a read of the body waits for its next
// byte; not while go-git works on what it has read.
type silenceTransport struct{ base http.RoundTripper }

func (t silenceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w, _ := req.Context().Value(silenceKey{}).(*silenceWatch)
	if w == nil || w.bound <= 0 {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	s := &silence{w: w, cancel: cancel}
	s.timer = time.AfterFunc(w.bound, s.fire)
	res, err := t.base.RoundTrip(req.WithContext(ctx))
	s.timer.Stop()
	if err != nil {
		cancel()
		if s.fired.Load() {
			return nil, w.err()
		}
		return nil, err
	}
	res.Body = &silentBody{ReadCloser: res.Body, s: s}
	return res, nil
}

// silence ends one request when its timer fires.
type silence struct {
	w      *silenceWatch
	cancel context.CancelFunc
	timer  *time.Timer
	fired  atomic.Bool
}

func (s *silence) fire() {
	s.fired.Store(true)
	s.w.stalled.Store(true)
	s.cancel()
}

// silentBody arms the timer for each read and stops it when the read returns.
type silentBody struct {
	io.ReadCloser
	s    *silence
	once sync.Once
}

func (b *silentBody) Read(p []byte) (int, error) {
	if b.s.fired.Load() {
		return 0, b.s.w.err()
	}
	b.s.timer.Reset(b.s.w.bound)
	n, err := b.ReadCloser.Read(p)
	b.s.timer.Stop()
	if err != nil && b.s.fired.Load() {
		return n, b.s.w.err()
	}
	return n, err
}

func (b *silentBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { b.s.timer.Stop(); b.s.cancel() })
	return err
}

// stalledError keeps the text of a sync's error (which quotes the transport's) and puts
// ErrGitStalled back in its chain: go-git's UnexpectedError, around the HTTP client's error,
// does not unwrap.
type stalledError struct{ err error }

func (e stalledError) Error() string   { return e.err.Error() }
func (e stalledError) Unwrap() []error { return []error{ErrGitStalled, e.err} }
