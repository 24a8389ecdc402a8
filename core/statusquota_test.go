package core

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// The bounds of a module's statuses through Host.SetStatus: a value over MaxStatusSize is
// InvalidArgument; the name past MaxStatuses and a write past MaxStatusBytes are
// ResourceExhausted, logged once at WARN for the module however often they come; an overwrite no
// larger, and a delete, always pass; a delete (also as JSON null) gives its room back; the
// module's start, which clears its status in Redis, starts the count again; another module is
// not held by a full one.
func TestStatusBounds(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	tc := newTestCore(t, roomModel, func(c *Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Warn})
		c.Limits.StatusRate = -1 // every write at once: the bounds hold without the rate too
	})
	h := tc.Host()
	set := func(mod, name string, value []byte) error {
		_, err := h.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: mod, Name: name, ValueJson: value})
		return err
	}
	code := func(err error) codes.Code { return status.Code(err) }
	big := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }

	if err := set("mod-1", "huge", big(MaxStatusSize+1)); code(err) != codes.InvalidArgument {
		t.Fatalf("a value over MaxStatusSize: %v, want InvalidArgument", err)
	}
	for i := range MaxStatuses {
		if err := set("mod-1", fmt.Sprint("s", i), []byte("1")); err != nil {
			t.Fatalf("status %d: %v", i, err)
		}
	}
	for range 3 {
		if err := set("mod-1", "one_more", []byte("1")); code(err) != codes.ResourceExhausted ||
			!strings.Contains(err.Error(), "1024 statuses") {
			t.Fatalf("the 1,025th name: %v, want ResourceExhausted naming the 1024", err)
		}
	}
	if err := set("mod-1", "s0", []byte("2")); err != nil {
		t.Fatalf("an overwrite at the bound: %v", err)
	}
	if err := set("mod-2", "other", []byte("1")); err != nil {
		t.Fatalf("another module: %v", err)
	}
	if err := set("mod-1", "s1", []byte(" null ")); err != nil {
		t.Fatalf("a delete as JSON null: %v", err)
	}
	if err := set("mod-1", "one_more", []byte("1")); err != nil {
		t.Fatalf("a name after a delete: %v", err)
	}
	if n := strings.Count(logs.String(), "the module's statuses are full"); n != 1 {
		t.Fatalf("%d WARN lines for refusals of one module, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "module=mod-1") || !strings.Contains(logs.String(), "driver=drv-d") {
		t.Fatalf("the WARN line names no module or driver:\n%s", logs.String())
	}

	// Bytes: mod-2 fills 16 MiB with 16 values of about 1 MiB.
	tc.OnModuleStart(t.Context(), "mod-1") // cleared: mod-1 starts from nothing
	if err := set("mod-1", "fresh", []byte("1")); err != nil {
		t.Fatalf("a write after the start's clear: %v", err)
	}
	value := big(MaxStatusSize - 10)
	var full error
	total := 0
	for i := 0; full == nil; i++ {
		name := fmt.Sprint("b", i)
		if full = set("mod-2", name, value); full == nil {
			total += len(name) + len(value)
		}
		if i > 16 {
			t.Fatal("more than 16 MiB of statuses taken")
		}
	}
	if code(full) != codes.ResourceExhausted || !strings.Contains(full.Error(), "bytes") {
		t.Fatalf("past 16 MiB: %v, want ResourceExhausted naming the bytes", full)
	}
	// The room left, to the byte: the module's statuses (mod-2's "other" too) reach the bound.
	total += len("other") + 1
	if err := set("mod-2", "pad", big(MaxStatusBytes-total-len("pad"))); err != nil {
		t.Fatalf("a value filling the bound to the byte: %v", err)
	}
	if err := set("mod-2", "b0", big(MaxStatusSize-10)); err != nil {
		t.Fatalf("an overwrite of the same size past the bound: %v", err)
	}
	if err := set("mod-2", "b0", big(MaxStatusSize-9)); code(err) != codes.ResourceExhausted {
		t.Fatalf("an overwrite one byte larger past the bound: %v", err)
	}
	if err := set("mod-2", "b0", []byte("1")); err != nil {
		t.Fatalf("an overwrite that shrinks: %v", err)
	}
	if err := set("mod-2", "b_new", big(MaxStatusSize-20)); err != nil {
		t.Fatalf("a value into the room the shrink made: %v", err)
	}
}
