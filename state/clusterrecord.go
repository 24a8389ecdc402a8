package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterKey holds the record of the cluster whose nodes use this Redis, as its leader last wrote
// it (engine-specific). Raft state lives on each node's disk; this record is the one trace of the
// cluster that a node which lost its disk can still find: such a node, told to bootstrap when no
// other node answers, would otherwise start a second cluster that never agrees with the first.
const ClusterKey = "engine/cluster"

// ClusterRecord is what ClusterKey holds.
type ClusterRecord struct {
	Members []string  `json:"members"` // node ids
	Leader  string    `json:"leader"`
	At      time.Time `json:"at"`
}

// SetCluster writes the cluster's record (the leader, when the cluster is ready).
func (s *Store) SetCluster(ctx context.Context, rec ClusterRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("state: cluster record: %w", err)
	}
	if err := s.client.Set(ctx, ClusterKey, b, 0).Err(); err != nil {
		return redisErr("state: write cluster record", err)
	}
	return nil
}

// Cluster reads the cluster's record; ok is false when Redis holds none (or one it cannot read).
func (s *Store) Cluster(ctx context.Context) (rec ClusterRecord, ok bool, err error) {
	b, err := s.client.Get(ctx, ClusterKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, redisErr("state: read cluster record", err)
	}
	if json.Unmarshal(b, &rec) != nil || len(rec.Members) == 0 {
		return ClusterRecord{}, false, nil
	}
	return rec, true, nil
}
