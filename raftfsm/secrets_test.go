package raftfsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/placeos-go/engine/auth"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

const secretModel = `
drivers:
  - id: drv-display
    module_name: Display
    role: device
    binary: /bin/display
    protected_settings: [{level: support, settings: {service_pin: "pin-4711-support"}}]
systems:
  - {id: sys-1, name: Room 1, modules: [mod-a]}
modules:
  - id: mod-a
    driver_id: drv-display
    running: true
    settings: {input: hdmi1}
    protected_settings:
      - {level: admin, settings: {password: "pw-admin-correct-horse"}}
      - {level: never_displayed, settings: {token: "tok-never-battery-staple"}}
`

var secretValues = []string{"pin-4711-support", "pw-admin-correct-horse", "tok-never-battery-staple"}

// grepDir reads every file under dir and returns those holding any of values.
func grepDir(t *testing.T, dir string, values ...string) (hits []string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				hits = append(hits, path+": "+v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestProtectedSettingsSealedAtRest writes protected settings through a real 3-node cluster
// (through a follower, so the command is forwarded), snapshots every node and reads every file
// of their data directories: no protected value is there in clear. A node restarted from its
// data directory opens them again; one with another key, or none, refuses to open its state,
// and a write sealed with another key never reaches the log.
func TestProtectedSettingsSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k, other := testutil.Keyring(t), testutil.Keyring(t)
	var mu sync.Mutex
	keys := map[string]*model.Keyring{"node1": k, "node2": k, "node3": other}
	c := newCluster(t, 3, func(cfg *Config) {
		mu.Lock()
		defer mu.Unlock()
		cfg.Secrets = keys[cfg.NodeID]
	})
	c.bootstrap(ctx)
	leader := c.waitLeader()
	if leader.id != "node1" {
		t.Fatalf("leader %s", leader.id)
	}
	n2, n3 := c.node("node2"), c.node("node3")
	if err := n2.s().Apply(ctx, parse(t, secretModel)); err != nil {
		t.Fatalf("apply through a follower: %v", err)
	}
	waitModule(t, c.nodes, "mod-a", true)

	// node3 seals with another key: the leader refuses its write before the log.
	err := n3.s().Apply(ctx, parse(t, `zones: [{id: z1, name: Z, protected_settings: [{level: admin, settings: {k: v}}]}]`))
	if err == nil || !strings.Contains(err.Error(), "every node needs the same secrets key") {
		t.Fatalf("write sealed with another key: %v", err)
	}
	// Plain writes from node3 still work; they keep the sealed values as they are.
	if err := n3.s().SetRunning(ctx, "mod-a", false); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, "set running replicated", func() bool {
		for _, n := range c.nodes {
			if m, _ := n.s().Model(); m.Modules["mod-a"].Running {
				return false
			}
		}
		return true
	})
	for _, n := range c.nodes {
		if err := n.s().raft.Snapshot().Error(); err != nil {
			t.Fatalf("%s: snapshot: %v", n.id, err)
		}
	}
	for _, n := range c.nodes {
		// The files hold the model (so the search reads the right bytes) but no secret.
		if hits := grepDir(t, n.dir, "drv-display", "hdmi1"); len(hits) == 0 {
			t.Fatalf("%s: the model is nowhere in %s", n.id, n.dir)
		}
		if hits := grepDir(t, n.dir, secretValues...); len(hits) > 0 {
			t.Errorf("%s: protected values in clear on disk:\n%s", n.id, strings.Join(hits, "\n"))
		}
	}

	// Readers see what their clearance reaches, on any node holding the key.
	admin, err := n2.s().ModelFor(auth.ClearanceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(admin.File())
	if !bytes.Contains(data, []byte("pw-admin-correct-horse")) || !bytes.Contains(data, []byte("pin-4711-support")) ||
		bytes.Contains(data, []byte("tok-never-battery-staple")) {
		t.Fatalf("admin view: %s", data)
	}

	// node2 restarted from its data directory opens them again.
	c.stop(n2)
	c.start(n2)
	testutil.Eventually(t, 10*time.Second, "node2 replayed the model", func() bool {
		m, _ := n2.s().Model()
		return m.Modules["mod-a"] != nil && !m.Modules["mod-a"].Running
	})
	m, _ := n2.s().Model()
	merged, err := m.MergedSettings(m.Modules["mod-a"], k)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"password": "pw-admin-correct-horse", "token": "tok-never-battery-staple", "service_pin": "pin-4711-support", "input": "hdmi1"} {
		if string(merged[key]) != `"`+want+`"` {
			t.Errorf("after restart: merged %s = %s, want %q", key, merged[key], want)
		}
	}

	// node3 holds the sealed values (replicated) under a key it does not have: it may not
	// reopen its state with that key, nor without one, and names the key the state needs.
	c.stop(n3)
	for name, key := range map[string]*model.Keyring{"another key": other, "no key": nil} {
		s, err := Open(Config{NodeID: n3.id, DataDir: n3.dir, RaftAddr: "127.0.0.1:0", HTTPAddr: n3.httpAddr, Secrets: key, Logger: testLogger(t)})
		if err == nil {
			_ = s.Close()
			t.Fatalf("node3 opened its state with %s", name)
		}
		if !strings.Contains(err.Error(), "sealed with key "+k.ID()) {
			t.Errorf("node3 with %s: %v", name, err)
		}
		if key == nil && !errors.Is(err, model.ErrNoSecretsKey) {
			t.Errorf("node3 without a key: %v is not ErrNoSecretsKey", err)
		}
	}
	mu.Lock()
	keys["node3"] = k
	mu.Unlock()
	c.start(n3)
	testutil.Eventually(t, 10*time.Second, "node3 back with the cluster's key", func() bool {
		m, err := n3.s().ModelFor(auth.ClearanceSupport)
		return err == nil && m.Drivers["drv-display"] != nil &&
			string(m.Drivers["drv-display"].ProtectedSettings[0].Settings["service_pin"]) == `"pin-4711-support"`
	})
}
