package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ModuleError is a module's start failure as its owner recorded it.
type ModuleError struct {
	Node  string    `json:"node"` // the node that failed to start it
	At    time.Time `json:"at"`   // when the failure began (a retry failing alike keeps it)
	Error string    `json:"error"`
	// Build: it was not started at all, because its driver has not built on Node.
	Build bool `json:"build,omitempty"`
	// Update: it runs, but its driver refused its latest settings update (it runs on with the
	// settings it had); At is when the refusals began.
	Update bool `json:"update,omitempty"`
	// LastGood: it runs, on the last good build of its driver, as the driver's latest build
	// failed on Node; At is when that build failed.
	LastGood bool `json:"last_good,omitempty"`
	// StableAt: it runs again, after its driver process restarted (At is when the process first
	// went down); the record lapses then, when the process has run the supervisor's StableAfter
	// (reads ignore it from then on, without a write to clear it). Zero otherwise.
	StableAt time.Time `json:"stable_at,omitzero"`
	// Hung: its start, begun then, has not answered yet (the driver is still in it); a read
	// says for how long. Zero otherwise.
	Hung time.Time `json:"hung,omitzero"`
}

// ModuleRuntime is what Redis holds of one module's life beside the model.
type ModuleRuntime struct {
	Connected []byte       // the `connected` status as JSON text; nil when unset
	Error     *ModuleError // nil when no start failure is recorded
}

// SetModuleError records a module's start failure under ModuleErrorsKey.
func (s *Store) SetModuleError(ctx context.Context, moduleID string, e ModuleError) error {
	v, _ := json.Marshal(e)
	if err := s.client.HSet(ctx, ModuleErrorsKey, moduleID, v).Err(); err != nil {
		return redisErr("state: set module error "+moduleID, err)
	}
	return nil
}

// ClearModuleError forgets a module's start failure.
func (s *Store) ClearModuleError(ctx context.Context, moduleID string) error {
	if err := s.client.HDel(ctx, ModuleErrorsKey, moduleID).Err(); err != nil {
		return redisErr("state: clear module error "+moduleID, err)
	}
	return nil
}

// ModuleRuntime reads the connected status and recorded start failure of each module, in one
// round trip however many there are (a list page reads them all).
func (s *Store) ModuleRuntime(ctx context.Context, moduleIDs []string) ([]ModuleRuntime, error) {
	out := make([]ModuleRuntime, len(moduleIDs))
	if len(moduleIDs) == 0 {
		return out, nil
	}
	if !s.Connected() {
		// Redis is known to be away: the module reads that want this answer at once without
		// the runtime fields, rather than after the client's dial retries (seconds, each of
		// them a log line).
		return nil, fmt.Errorf("state: read module runtime: %w: no connection", ErrUnavailable)
	}
	pipe := s.client.Pipeline()
	connected := make([]*redis.StringCmd, len(moduleIDs))
	for i, id := range moduleIDs {
		connected[i] = pipe.HGet(ctx, StatusKey(id), "connected")
	}
	failures := pipe.HMGet(ctx, ModuleErrorsKey, moduleIDs...)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, redisErr("state: read module runtime", err)
	}
	errs := failures.Val()
	for i := range moduleIDs {
		if v, err := connected[i].Bytes(); err == nil {
			out[i].Connected = v
		}
		if i >= len(errs) {
			continue
		}
		if text, ok := errs[i].(string); ok {
			var e ModuleError
			if json.Unmarshal([]byte(text), &e) == nil {
				out[i].Error = &e
			}
		}
	}
	return out, nil
}
