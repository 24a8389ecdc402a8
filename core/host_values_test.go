package core

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/plugin/proto"
)

// wantCode fails the test unless err is a gRPC status with code whose message names every one
// of words.
func wantCode(t *testing.T, err error, code codes.Code, words ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if err == nil || st.Code() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	for _, w := range words {
		if !strings.Contains(st.Message(), w) {
			t.Errorf("message %q does not name %q", st.Message(), w)
		}
	}
}

// A status value with invalid UTF-8 (which json.Valid passes inside a string) would break every
// browser WebSocket it is sent on: it is refused with the module and status named, and not
// written.
func TestSetStatusRefusesInvalidUTF8(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, logicModel, nil)
	host := tc.Host()
	_, err := host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: "mod-room", Name: "st", ValueJson: []byte("\"x\xffy\"")})
	wantCode(t, err, codes.InvalidArgument, "mod-room", `"st"`, "UTF-8")
	_, err = host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: "mod-room", Name: "s\xfft", ValueJson: []byte(`1`)})
	wantCode(t, err, codes.InvalidArgument, "mod-room", "UTF-8")
	_, err = host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: "mod-room", Name: "st", ValueJson: []byte(`{`)})
	wantCode(t, err, codes.InvalidArgument, "mod-room", "JSON")
	tc.state.mu.Lock()
	v, written := tc.state.status["mod-room"]["st"]
	tc.state.mu.Unlock()
	if written {
		t.Fatalf("refused status was written: %q", v)
	}
	if _, err := host.SetStatus(t.Context(), &proto.SetStatusRequest{ModuleId: "mod-room", Name: "st", ValueJson: []byte(`"ünïcode ✓"`)}); err != nil {
		t.Fatalf("valid UTF-8 status: %v", err)
	}
}

// A saved setting is a Raft write: a value over MaxSettingSize, or not UTF-8 JSON, is refused;
// saves over the driver's SettingRate (bursts of BurstSeconds' worth) are refused with the
// driver limit's ResourceExhausted; those within it land in the model.
func TestSaveSettingBounded(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, logicModel, func(c *Config) { c.Limits.SettingRate = 1 })
	host := tc.Host()
	save := func(name, value string) error {
		_, err := host.SaveSetting(t.Context(), &proto.SaveSettingRequest{ModuleId: "mod-room", Name: name, ValueJson: []byte(value)})
		return err
	}
	wantCode(t, save("big", `"`+strings.Repeat("x", MaxSettingSize-1)+`"`), codes.InvalidArgument, "mod-room", `"big"`, "65536")
	wantCode(t, save("latin", "\"caf\xe9\""), codes.InvalidArgument, "mod-room", `"latin"`, "UTF-8")
	wantCode(t, save("", `1`), codes.InvalidArgument, "mod-room")
	wantCode(t, save(strings.Repeat("n", maxSettingName+1), `1`), codes.InvalidArgument, "mod-room")

	if err := save("preset", `"`+strings.Repeat("x", MaxSettingSize-2)+`"`); err != nil {
		t.Fatalf("a setting of MaxSettingSize: %v", err)
	}
	saved, err := 1, error(nil)
	for ; saved < 2*BurstSeconds; saved++ {
		if err = save("volume", `70`); err != nil {
			break
		}
	}
	wantCode(t, err, codes.ResourceExhausted, "drv-room", "1/s")
	if saved != BurstSeconds {
		t.Errorf("refused after %d saves, want the burst of %d", saved, BurstSeconds)
	}
	m, _ := tc.store.Model()
	if got := string(m.Modules["mod-room"].Settings["volume"]); got != "70" {
		t.Errorf("saved setting in the model: %q", got)
	}
}
