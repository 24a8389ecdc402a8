package core

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/plugin/proto"
)

// saver saves settings of mod-room as its driver would, with the save rate off (the bound on the
// total is under test, not the rate).
func saver(t *testing.T, tc *testCore) func(name, value string) error {
	return func(name, value string) error {
		_, err := tc.Host().SaveSetting(t.Context(), &proto.SaveSettingRequest{ModuleId: "mod-room", Name: name, ValueJson: []byte(value)})
		return err
	}
}

func roomSettings(tc *testCore) model.Settings {
	m, _ := tc.store.Model()
	return m.Modules["mod-room"].Settings
}

// A module's saved settings hold at most MaxSavedSettings keys: the next new key is refused with
// InvalidArgument naming the bound, while overwriting a key with a value no larger still works.
func TestSavedSettingsKeysBounded(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, logicModel, func(c *Config) { c.Limits.SettingRate = -1 })
	save := saver(t, tc)
	for i := range MaxSavedSettings {
		if err := save(fmt.Sprintf("preset%03d", i), `"abc"`); err != nil {
			t.Fatalf("save %d: %v", i, err)
		}
	}
	wantCode(t, save("one_more", `1`), codes.InvalidArgument, "mod-room", `"one_more"`, "256 keys")
	if err := save("preset007", `"xyz"`); err != nil {
		t.Errorf("overwrite at the key bound, same size: %v", err)
	}
	if err := save("preset008", `null`); err != nil {
		t.Errorf("overwrite at the key bound, smaller: %v", err)
	}
	if err := save("preset009", `"a longer value"`); err != nil {
		t.Errorf("overwrite at the key bound, larger but within the bytes: %v", err)
	}
	s := roomSettings(tc)
	if len(s) != MaxSavedSettings || s["one_more"] != nil || string(s["preset007"]) != `"xyz"` {
		t.Errorf("settings after the refusal: %d keys, one_more=%s preset007=%s", len(s), s["one_more"], s["preset007"])
	}
}

// The byte bound: a save that would grow the settings past MaxSavedSettingsBytes is refused, a
// new key or a larger value alike; an overwrite with a value no larger passes at the bound.
func TestSavedSettingsBytesBounded(t *testing.T) {
	t.Parallel()
	tc := newTestCore(t, logicModel, func(c *Config) { c.Limits.SettingRate = -1 })
	save := saver(t, tc)
	value := `"` + strings.Repeat("x", 60_000) + `"`
	n := 0
	var err error
	for ; n < 100; n++ {
		if err = save(fmt.Sprintf("blob%02d", n), value); err != nil {
			break
		}
	}
	wantCode(t, err, codes.InvalidArgument, "mod-room", "1048576 bytes")
	if want := MaxSavedSettingsBytes / (len(value) + len("blob00")); n != want {
		t.Errorf("refused after %d saves of %d bytes, want %d", n, len(value), want)
	}
	// Filled to the byte: nothing that grows the settings passes, a key of one byte included.
	room := MaxSavedSettingsBytes - settingsSize(roomSettings(tc))
	if err := save("fill", `"`+strings.Repeat("f", room-len("fill")-2)+`"`); err != nil {
		t.Fatalf("filling the last %d bytes: %v", room, err)
	}
	wantCode(t, save("k", `1`), codes.InvalidArgument, `"k"`)
	wantCode(t, save("blob01", `"`+strings.Repeat("y", 60_001)+`"`), codes.InvalidArgument, `"blob01"`)
	// Whitespace is compacted away before the check: the same value with spaces is the same size.
	if err := save("blob00", " "+value+" "); err != nil {
		t.Errorf("overwrite at the byte bound, with spaces: %v", err)
	}
	if err := save("blob01", `"`+strings.Repeat("z", 60_000)+`"`); err != nil {
		t.Errorf("overwrite at the byte bound, same size: %v", err)
	}
	if err := save("blob02", `0`); err != nil {
		t.Errorf("overwrite at the byte bound, smaller: %v", err)
	}
	if got := settingsSize(roomSettings(tc)); got > MaxSavedSettingsBytes {
		t.Errorf("settings grew to %d bytes", got)
	}
}

// laggingStore is the model of a follower: a save returns once the leader applied it, and this
// node's copy shows it later — here, only once someone watches the model for it.
type laggingStore struct {
	*model.Memory
	mu      sync.Mutex
	pending []func()
}

func (s *laggingStore) SaveSetting(_ context.Context, moduleID, name string, value json.RawMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, func() {
		if err := s.Memory.SaveSetting(context.Background(), moduleID, name, value); err != nil {
			panic(err)
		}
	})
	return nil
}

func (s *laggingStore) Watch(ctx context.Context) <-chan struct{} {
	ch := s.Memory.Watch(ctx)
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, apply := range pending {
		apply()
	}
	return ch
}

// On a follower each save waits until this node's model shows it, and the saves of a module go
// one at a time: saves from many goroutines at once, each checked against a model that lags,
// still stop at MaxSavedSettings keys.
func TestSavedSettingsBoundedOnALaggingFollower(t *testing.T) {
	t.Parallel()
	var lag *laggingStore
	tc := newTestCore(t, logicModel, func(c *Config) {
		c.Limits.SettingRate = -1
		lag = &laggingStore{Memory: c.Store.(*model.Memory)}
		c.Store = lag
	})
	save := saver(t, tc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for w := range 4 {
		wg.Go(func() {
			for i := range MaxSavedSettings / 2 {
				if err := save(fmt.Sprintf("w%d_%03d", w, i), `1`); err != nil {
					if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "256 keys") {
						t.Errorf("save %d of writer %d: %v, want the key bound's refusal", i, w, err)
					}
					mu.Lock()
					refused++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	lag.Watch(t.Context()) // lands what is left
	if n := len(roomSettings(tc)); n != MaxSavedSettings || refused != 4*(MaxSavedSettings/2)-MaxSavedSettings {
		t.Errorf("%d keys saved and %d saves refused, want %d keys and the rest refused", n, refused, MaxSavedSettings)
	}
}
