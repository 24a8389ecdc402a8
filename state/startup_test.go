package state

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/placeos-go/engine/internal/testutil"
)

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A Redis that answers the node's PING but refuses its next connection (maxclients reached)
// fails the start with the reason once Options.StartTimeout has passed, after a WARN saying
// so at once, rather than holding the start without a word (the start's context has no
// deadline: cmd/engine passes the process's).
func TestNewFailsWhenPubSubCannotConnect(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	admin := r.Client(t)
	// The admin connection and the Store's PING connection take both places.
	if err := admin.ConfigSet(t.Context(), "maxclients", "2").Err(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Info, Output: &logs})
	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := New(context.Background(), Options{URL: r.URL, Logger: log, StartTimeout: 2 * time.Second})
		done <- result{s, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("New still waiting after a minute, without a word; log:\n%s", logs.String())
	}
	if res.err == nil {
		_ = res.s.Close()
		t.Fatal("New succeeded without a pub/sub connection")
	}
	// go-redis writes its SUBSCRIBE before it reads Redis's refusal, so the reason it reports is
	// the connection Redis closed (a broken pipe or EOF), not Redis's words.
	if msg := res.err.Error(); !strings.Contains(msg, "pub/sub connection not established") || !strings.Contains(msg, "last error:") {
		t.Errorf("New's error %q does not say what failed and why", res.err)
	}
	if out := logs.String(); !strings.Contains(out, "[WARN]") || !strings.Contains(out, "pub/sub connection the node needs cannot be established") {
		t.Errorf("no WARN while waiting; log:\n%s", out)
	}
}
