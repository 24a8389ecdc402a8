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
	// the connection Redis closed (a broken pipe or EOF); Redis's own words are read apart.
	if msg := res.err.Error(); !strings.Contains(msg, "pub/sub connection not established") || !strings.Contains(msg, "last error:") ||
		!strings.Contains(msg, "redis says: ERR max number of clients reached") {
		t.Errorf("New's error %q does not say what failed and why", res.err)
	}
	if out := logs.String(); !strings.Contains(out, "[WARN]") || !strings.Contains(out, "pub/sub connection the node needs cannot be established") {
		t.Errorf("no WARN while waiting; log:\n%s", out)
	}
}

// A Redis that refuses the node's first connection says why (maxclients here; protected mode
// alike), and the start's error quotes it: go-redis alone reports a broken pipe or EOF. A Redis
// that is not there says nothing, and nothing is added.
func TestNewSaysWhyRedisRefuses(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	admin := r.Client(t)
	if err := admin.ConfigSet(t.Context(), "maxclients", "1").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := New(t.Context(), Options{URL: r.URL, Logger: hclog.NewNullLogger(), StartTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "(redis says: ERR max number of clients reached)") {
		t.Fatalf("New's error %v does not quote Redis's refusal", err)
	}

	down := "redis://" + testutil.FreeAddr(t) + "/0"
	_, err = New(t.Context(), Options{URL: down, Logger: hclog.NewNullLogger(), StartTimeout: 2 * time.Second})
	if err == nil || strings.Contains(err.Error(), "redis says") {
		t.Fatalf("New against no Redis: %v", err)
	}
}
