package state

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// sweepScanCount is the COUNT hint of each SCAN: large enough that 10,000 modules take a few
// round trips, small enough that Redis answers others between them.
const sweepScanCount = 1000

// KeyedIDs lists the modules and the systems Redis holds keys of: a module with a status hash
// (status/<id>), metadata (interface/<id>) or a start failure (a field of engine/module_errors),
// a system with a lookup hash (system/<id>). It walks the keyspace with SCAN, never KEYS, so
// Redis keeps serving every other client meanwhile; a key made or deleted during the walk may or
// may not be listed. Sorted, each id once.
func (s *Store) KeyedIDs(ctx context.Context) (modules, systems []string, err error) {
	mods := map[string]bool{}
	for _, prefix := range []string{StatusKey(""), InterfaceKey("")} {
		if err := s.scanIDs(ctx, prefix, mods); err != nil {
			return nil, nil, err
		}
	}
	failed, err := s.client.HKeys(ctx, ModuleErrorsKey).Result()
	if err != nil {
		return nil, nil, redisErr("state: list module errors", err)
	}
	for _, id := range failed {
		mods[id] = true
	}
	syss := map[string]bool{}
	if err := s.scanIDs(ctx, SystemKey(""), syss); err != nil {
		return nil, nil, err
	}
	return slices.Sorted(maps.Keys(mods)), slices.Sorted(maps.Keys(syss)), nil
}

// scanIDs adds the rest of every key named prefix+<id> to ids.
func (s *Store) scanIDs(ctx context.Context, prefix string, ids map[string]bool) error {
	it := s.client.Scan(ctx, 0, prefix+"*", sweepScanCount).Iterator()
	for it.Next(ctx) {
		if id := strings.TrimPrefix(it.Val(), prefix); id != "" {
			ids[id] = true
		}
	}
	if err := it.Err(); err != nil {
		return redisErr("state: scan "+prefix+"*", err)
	}
	return nil
}
