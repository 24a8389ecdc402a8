package model

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/placeos-go/engine/auth"
)

// Memory is an in-process model store. Writers serialise on a mutex; readers get the current
// immutable Model; watchers are told (coalesced) that something changed. Like the Raft store it
// seals protected settings with its keyring before a write and opens them for readers.
type Memory struct {
	mu       sync.Mutex
	keys     *Keyring
	cur      *Model
	version  uint64
	watchers map[chan struct{}]struct{}
}

// NewMemory returns a store holding an empty model, without a secrets key (writes carrying
// protected settings are refused).
func NewMemory() *Memory { return NewMemoryWithKeys(nil) }

// NewMemoryWithKeys returns a store holding an empty model that seals protected settings with k.
func NewMemoryWithKeys(k *Keyring) *Memory {
	return &Memory{keys: k, cur: New(), watchers: map[chan struct{}]struct{}{}}
}

// Model returns the current model and its version (incremented by every write).
func (s *Memory) Model() (*Model, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur, s.version
}

// ModelFor returns the current model as a caller of clearance c may read it (Model.Redacted).
func (s *Memory) ModelFor(c auth.Clearance) (*Model, error) {
	m, _ := s.Model()
	return m.Redacted(c, s.keys)
}

// Watch returns a channel that receives a value after every change (several changes may
// coalesce into one value). It is closed when ctx is done.
func (s *Memory) Watch(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.watchers, ch)
		s.mu.Unlock()
		close(ch)
	}()
	return ch
}

// Update applies fn to a copy of the model and publishes it if fn succeeds and the result is
// valid. The other writes are built on it.
func (s *Memory) Update(_ context.Context, fn func(*Model) (*Model, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := fn(s.cur)
	if err != nil {
		return err
	}
	if err := next.Validate(); err != nil {
		return err
	}
	s.cur = next
	s.version++
	for ch := range s.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// Apply creates or replaces every entity in f by id, sealing its protected settings first.
func (s *Memory) Apply(ctx context.Context, f *File) error {
	return s.Update(ctx, func(m *Model) (*Model, error) {
		sealed, err := f.Seal(m, s.keys)
		if err != nil {
			return nil, err
		}
		return m.Upsert(sealed), nil
	})
}

// Delete removes an entity that nothing refers to.
func (s *Memory) Delete(ctx context.Context, kind Kind, id string) error {
	return s.Update(ctx, func(m *Model) (*Model, error) { return m.Without(kind, id) })
}

// SetRunning sets a module's desired state.
func (s *Memory) SetRunning(ctx context.Context, moduleID string, running bool) error {
	return s.Update(ctx, func(m *Model) (*Model, error) { return m.WithRunning(moduleID, running) })
}

// SaveSetting sets one top-level key of a module's own settings (a driver saving a setting).
func (s *Memory) SaveSetting(ctx context.Context, moduleID, name string, value json.RawMessage) error {
	return s.Update(ctx, func(m *Model) (*Model, error) { return m.WithSetting(moduleID, name, value) })
}
