package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/enginetest"
	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/model"
)

// TestModelFileWarnsWhatItReplaces runs a real engine with --model, as a node of make cluster
// starts: a restart that changes nothing warns nothing; after a module and a system are changed
// through the API, the next start warns that the file replaces those two, naming them, and the
// start after that (the file's version back in force) is quiet again. The start also logs the
// driver limits in force in canonical form.
func TestModelFileWarnsWhatItReplaces(t *testing.T) {
	t.Parallel()
	redis := testutil.StartRedis(t)
	n := enginetest.NewNode(t, enginetest.Config{Redis: redis.URL}, "n1")
	file := enginetest.WriteModel(t, `
drivers: [{id: drv-1, module_name: Display, role: device, binary: /nonexistent/driver}]
modules: [{id: mod-1, driver_id: drv-1, ip: 127.0.0.1, port: 1, running: false}]
systems: [{id: sys-1, name: Lab, modules: [mod-1]}]
zones: [{id: zone-1, name: Floor}]
`)
	const warning = "replaces"
	start := func() string {
		t.Helper()
		n.Start("--bootstrap", "--model", file, "--driver-memory-limit", "1G", "--driver-status-rate", "200/min")
		n.WaitLog(enginetest.ReadyWithin, "engine listening")
		return n.Logs().String()
	}
	if logs := start(); !strings.Contains(logs, "driver limits: memory=1GiB status=3.33/s calls=200/s subscriptions=1000") || strings.Contains(logs, warning) {
		t.Fatalf("first start: want the driver limits line and no warning:\n%s", n.Logs().Tail(3000))
	}
	n.Stop()
	if logs := start(); strings.Contains(logs, warning) {
		t.Fatalf("a restart with nothing changed warned:\n%s", n.Logs().Tail(3000))
	}

	for path, body := range map[string]string{
		"/api/engine/v2/modules/mod-1": `{"placement": {"site": "b"}}`,
		"/api/engine/v2/systems/sys-1": `{"name": "Lab 2"}`,
	} {
		if r := n.Do(http.MethodPatch, path, body); r.Status != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", path, r.Status, r.Body)
		}
	}
	n.Stop()
	logs := start()
	want := fmt.Sprintf("model file %s replaces 2 entities changed since it was last applied (mod-1, sys-1): edit the file or drop --model", file)
	if !strings.Contains(logs, want) || !strings.Contains(logs, "[WARN]") {
		t.Fatalf("restart after API changes: want a WARN %q:\n%s", want, n.Logs().Tail(3000))
	}
	n.Stop()
	if logs := start(); strings.Contains(logs, warning) {
		t.Fatalf("the start after the file was applied again warned:\n%s", n.Logs().Tail(3000))
	}
}

// TestReplacesMessage: up to ten ids are named, the rest counted; a changed entity the record
// never saw is not counted.
func TestReplacesMessage(t *testing.T) {
	var ids []string
	for i := range 12 {
		ids = append(ids, fmt.Sprintf("mod-%02d", i))
	}
	got := replacesMessage("m.yaml", ids)
	if !strings.HasPrefix(got, "model file m.yaml replaces 12 entities changed since it was last applied (mod-00, mod-01,") ||
		!strings.Contains(got, "mod-09 and 2 more): edit the file or drop --model") {
		t.Errorf("12 ids: %s", got)
	}
	if got := replacesMessage("m.yaml", ids[:1]); !strings.Contains(got, "replaces 1 entity changed since it was last applied (mod-00)") {
		t.Errorf("one id: %s", got)
	}

	f := &model.File{Zones: []*model.Zone{{ID: "zone-1", Name: "A"}, {ID: "zone-2", Name: "B"}}}
	m := model.New()
	m.Zones["zone-1"], m.Zones["zone-2"] = &model.Zone{ID: "zone-1", Name: "A"}, &model.Zone{ID: "zone-2", Name: "B"}
	record := digests(f, m)
	delete(record, "zone/zone-2")
	m.Zones["zone-1"], m.Zones["zone-2"] = &model.Zone{ID: "zone-1", Name: "A2"}, &model.Zone{ID: "zone-2", Name: "B2"}
	if got := changedSince(record, f, m); len(got) != 1 || got[0] != "zone-1" {
		t.Errorf("changedSince = %v, want [zone-1]", got)
	}
}
