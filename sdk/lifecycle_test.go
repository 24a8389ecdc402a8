package sdk_test

import (
	"context"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/placeos-go/engine/plugin/proto"
	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/internal/driverrt"
	"github.com/placeos-go/engine/sdk/sdktest"
)

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func tick() <-chan time.Time { return time.After(10 * time.Millisecond) }

func TestLifecycleHooks(t *testing.T) {
	t.Parallel()
	var drivers []*tester
	var mu sync.Mutex
	factory := func() *tester {
		d := newTester()
		mu.Lock()
		drivers = append(drivers, d)
		mu.Unlock()
		return d
	}
	counts := func(i int) [3]int32 {
		mu.Lock()
		defer mu.Unlock()
		d := drivers[i]
		return [3]int32{d.loads.Load(), d.updates.Load(), d.unloads.Load()}
	}
	h := sdktest.New(t, factory)
	h.Start(sdktest.Module{IP: "10.0.0.1", Port: 1})
	h.WaitStatus("loaded", true)
	if got := counts(0); got != [3]int32{1, 0, 0} {
		t.Fatalf("after start: %v", got)
	}
	h.Start(sdktest.Module{IP: "10.0.0.1", Port: 1, Settings: map[string]int{"a": 1}}) // idempotent: an update
	if got := counts(0); got != [3]int32{1, 1, 0} {
		t.Fatalf("after second start: %v", got)
	}
	h.Update(sdktest.Module{IP: "10.0.0.2", Port: 1}) // connection change: new instance
	if got := counts(0); got != [3]int32{1, 1, 1} {
		t.Fatalf("old instance after restart: %v", got)
	}
	if got := counts(1); got != [3]int32{1, 0, 0} {
		t.Fatalf("new instance after restart: %v", got)
	}
	ctx, cancel := contextWithTimeout()
	defer cancel()
	info, err := h.Client.Info(ctx, &proto.Empty{})
	if err != nil || !reflect.DeepEqual(info.GetModuleIds(), []string{"mod-test"}) {
		t.Fatalf("info: %v %v", info.GetModuleIds(), err)
	}
	h.Stop()
	if got := counts(1); got != [3]int32{1, 0, 1} {
		t.Fatalf("after stop: %v", got)
	}
	info, _ = h.Client.Info(ctx, &proto.Empty{})
	if len(info.GetModuleIds()) != 0 {
		t.Fatalf("info after stop: %v", info.GetModuleIds())
	}
	h.Stop() // stopping twice is fine
}

// The metadata is checked as the host receives it. Golden files are written from
// Harness.Metadata, so the document must also survive decoding and encoding byte for byte.
func TestMetadataDerivation(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newTester)
	ctx, cancel := contextWithTimeout()
	defer cancel()
	resp, err := h.Client.Metadata(ctx, &proto.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetJson()
	for _, frag := range []string{
		`"add":{"a":["int"],"b":["int",2]}`,
		`"limits":{"level":["int"],"mode":["string","slow"]}`,
		`"maybe":{"n":{"type":["integer","null"],"title":"*int"}}`,
		`"security":{"administrator":["reset"]}`,
		`"implements":[]`,
		`"versions":{"driver":`,
	} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("metadata lacks %s:\n%s", frag, b)
		}
	}
	m := h.Metadata()
	// Declaration order from driver_test.go, not alphabetical.
	want := []string{"add", "echo", "nothing", "boom", "fail", "fail_plain", "limits", "maybe",
		"set_value", "whoami", "conf", "chatty", "reset"}
	if got := m.Functions.Keys(); !reflect.DeepEqual(got, want) {
		t.Fatalf("functions: %v\nwant %v", got, want)
	}
	again, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Fatalf("metadata does not round-trip:\n%s\n%s", b, again)
	}
}

type badDefault struct{ sdk.Base }

func (b *badDefault) Volume(_ struct {
	Level int `default:"loud"`
}) {
}

func TestBadDeclarationsFail(t *testing.T) {
	t.Parallel()
	_, err := driverrt.New(func() *badDefault { return &badDefault{} }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `"level"`) {
		t.Fatalf("want an error naming the parameter, got %v", err)
	}
}

// driverrt.New takes its arguments untyped; a wrong type is an error, not a panic.
func TestRuntimeRefusesWrongTypes(t *testing.T) {
	t.Parallel()
	if _, err := driverrt.New(func() tester { return tester{} }, io.Discard); err == nil {
		t.Error("a factory of a non-driver type was accepted")
	}
	if _, err := driverrt.New(newTester, io.Discard, "verbose"); err == nil {
		t.Error("an option that is not an sdk.Option was accepted")
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]sdk.Target{
		"Display_2": sdk.In("Display", 2), "Display": sdk.In("Display", 1),
		"My_Thing": sdk.In("My_Thing", 1), "Cam_1": sdk.In("Cam", 1),
	} {
		if got := sdk.Slug(in); got != want {
			t.Errorf("Slug(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// recordingHost is a HostClient that only records statuses; it shows that statuses set before
// the host connects are delivered once it does.
type recordingHost struct {
	proto.HostClient
	mu  sync.Mutex
	got map[string]string
}

func (r *recordingHost) SetStatus(_ context.Context, in *proto.SetStatusRequest, _ ...grpc.CallOption) (*proto.Empty, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[in.GetName()] = string(in.GetValueJson())
	return &proto.Empty{}, nil
}

func TestStatusBeforeHostConnects(t *testing.T) {
	t.Parallel()
	rt, err := driverrt.New(newTester, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx, cancel := contextWithTimeout()
	defer cancel()
	if _, err := rt.Start(ctx, &proto.StartRequest{Module: &proto.Module{Id: "m1"}}); err != nil {
		t.Fatal(err)
	}
	host := &recordingHost{got: map[string]string{}}
	rt.Connect(host)
	for {
		host.mu.Lock()
		v := host.got["loaded"]
		host.mu.Unlock()
		if v == "true" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatal("status set before the host connected was lost")
		case <-tick():
		}
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) { return len(p), nil }
