package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// silentServer listens on loopback and, for each connection, runs answer (which may write
// something) and then holds the connection open without another byte until the test ends.
func silentServer(t *testing.T, answer func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go answer(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestGitServerSilenceFailsSync: a git server that takes the connection and never answers, or
// answers the headers and then stops, fails a clone and a fetch once it has been silent for
// GitStallTimeout, not after GitTimeout (10 minutes), with an error that names the repository
// and the silence, and no credential (fault injection 13, F4).
func TestGitServerSilenceFailsSync(t *testing.T) {
	t.Parallel()
	servers := map[string]string{
		"never answers": silentServer(t, func(net.Conn) {}),
		"stalls after the headers": silentServer(t, func(c net.Conn) {
			if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n" +
				"Transfer-Encoding: chunked\r\n\r\n"))
		}),
	}
	const bound = time.Second
	b := newBuilder(t, t.TempDir(), func(c *Config) { c.GitStallTimeout = bound })
	// Without the bound, the sync would wait for this context (GitTimeout is 10 minutes).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrGitStalled) {
			t.Errorf("%s: %v, want %v", what, err, ErrGitStalled)
			return
		}
		for _, want := range []string{"nothing came from the server for 1s"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error does not say %q: %v", what, want, err)
			}
		}
		if strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: the error shows a credential: %v", what, err)
		}
	}
	i := 0
	for name, addr := range servers {
		i++
		uri := "http://ghp_SECRETTOKEN@" + addr + "/acme/repo.git"
		id := "silent" + string(rune('a'+i))
		_, err := b.Sync(ctx, model.Repository{ID: id, URI: uri})
		check(name+", clone", err)
		if err != nil && !strings.Contains(err.Error(), id) {
			t.Errorf("%s: the error does not name the repository %s: %v", name, id, err)
		}
		st, _ := b.RepoStatus(id)
		if !strings.Contains(st.LastError, "nothing came from the server") || strings.Contains(st.LastError, "SECRET") {
			t.Errorf("%s: status: %+v", name, st)
		}

		// A fetch: the repository is cloned, then moves to the silent server.
		fid := "fetch" + string(rune('a'+i))
		if _, err := b.Sync(ctx, repoOf(fid, mustDriverRepo(t))); err != nil {
			t.Fatal(err)
		}
		_, err = b.Sync(ctx, model.Repository{ID: fid, URI: uri})
		check(name+", fetch", err)
		if err != nil && !strings.Contains(err.Error(), fid) {
			t.Errorf("%s: the fetch error does not name the repository %s: %v", name, fid, err)
		}
	}
}

// trickleWriter sends what a handler writes a few bytes at a time with a pause between, each
// pause far shorter than the silence bound, all of them together longer.
type trickleWriter struct {
	http.ResponseWriter
	chunk int
	pause time.Duration
}

func (w trickleWriter) Write(p []byte) (int, error) {
	rc := http.NewResponseController(w.ResponseWriter)
	n := 0
	for len(p) > 0 {
		k := min(w.chunk, len(p))
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		_ = rc.Flush()
		time.Sleep(w.pause)
		p = p[k:]
	}
	return n, nil
}

// TestSlowGitServerClones: the bound is on silence, not on the whole transfer: a real git
// server (git http-backend) that sends a little at a time, for longer in all than the bound,
// is cloned.
func TestSlowGitServerClones(t *testing.T) {
	t.Parallel()
	git := gitBin(t)
	execPath, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	root := t.TempDir()
	src := filepath.Join(root, "small.git")
	work := t.TempDir()
	runGit(t, work, "init", "-q", "-b", "main")
	// Content that does not compress, so the pack itself takes many writes.
	rnd := rand.New(rand.NewPCG(1, 2))
	var content strings.Builder
	for range 64 {
		fmt.Fprintf(&content, "%016x%016x\n", rnd.Uint64(), rnd.Uint64())
	}
	testutil.WriteFile(t, filepath.Join(work, "README"), content.String())
	head := commitAll(t, work, "one")
	runGit(t, root, "clone", "-q", "--bare", work, src)

	cgiHandler := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1"}}
	const bound = 500 * time.Millisecond
	trickle := trickleWriter{chunk: 16, pause: 20 * time.Millisecond}
	var sent time.Duration // how long the server took to send, all requests together
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := trickle
		tw.ResponseWriter = w
		start := time.Now()
		cgiHandler.ServeHTTP(tw, r)
		mu.Lock()
		sent += time.Since(start)
		mu.Unlock()
	}))
	defer srv.Close()

	b := newBuilder(t, t.TempDir(), func(c *Config) { c.GitStallTimeout = bound })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := b.Sync(ctx, model.Repository{ID: "slow", URI: srv.URL + "/small.git"})
	if err != nil {
		t.Fatalf("a slow but steady git server: %v", err)
	}
	if st.Head != head {
		t.Fatalf("cloned head %s, want %s", st.Head, head)
	}
	srv.Close() // waits for the handlers: the last one may still be sending its final pause
	mu.Lock()
	defer mu.Unlock()
	if sent <= bound {
		t.Fatalf("the server sent everything within %s (in %s): the test did not exceed the bound", bound, sent)
	}
}
