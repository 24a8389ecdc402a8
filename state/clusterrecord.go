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
//
// Only the leader writes it (KeepCluster): it knows the committed membership, where a follower
// may be cut off or behind and would put an older membership over a newer one. It is kept like
// the node's share: checked every few seconds by the leader and written again whenever Redis does
// not hold it as the leader wrote it (missing after a loss, or overwritten), and written back with
// the share after a reconnect or a loss the node's marker tells.
const ClusterKey = "engine/cluster"

// ClusterRecord is what ClusterKey holds.
type ClusterRecord struct {
	Members []string  `json:"members"` // node ids
	Leader  string    `json:"leader"`
	At      time.Time `json:"at"` // when this leader first recorded these members
}

// keepClusterScript sets the record unless Redis holds exactly it, and answers {1 when it wrote,
// the value it replaced ("" when none)}. KEYS[1] = ClusterKey; ARGV[1] = the record.
var keepClusterScript = redis.NewScript(`
local old = redis.call('GET', KEYS[1])
if old == ARGV[1] then return {0, ''} end
redis.call('SET', KEYS[1], ARGV[1])
return {1, old or ''}
`)

// KeepCluster makes Redis hold rec as the cluster's record (the leader's call, every few seconds):
// it writes it unless Redis holds exactly it, and answers what it replaced (nil when the key was
// missing) and whether it wrote. From then on the record is written back with the share after a
// loss. A nil rec (this node no longer leads) writes nothing and stops the write-back, so a
// deposed leader does not put its membership back over its successor's.
func (s *Store) KeepCluster(ctx context.Context, rec *ClusterRecord) (replaced []byte, written bool, err error) {
	s.share.clusterMu.Lock()
	defer s.share.clusterMu.Unlock()
	if rec == nil {
		s.share.cluster = nil
		return nil, false, nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, false, fmt.Errorf("state: cluster record: %w", err)
	}
	s.share.cluster = b
	return s.writeCluster(ctx, b)
}

// writeCluster writes the record b unless Redis holds it (clusterMu held).
func (s *Store) writeCluster(ctx context.Context, b []byte) (replaced []byte, written bool, err error) {
	res, err := keepClusterScript.Run(ctx, s.client, []string{ClusterKey}, b).Slice()
	if err != nil {
		return nil, false, redisErr("state: write cluster record", err)
	}
	if len(res) != 2 {
		return nil, false, fmt.Errorf("state: write cluster record: answer %v", res)
	}
	if n, _ := res[0].(int64); n == 0 {
		return nil, false, nil
	}
	if old, _ := res[1].(string); old != "" {
		replaced = []byte(old)
	}
	return replaced, true, nil
}

// writeBackCluster writes the kept record back, if this node keeps one; it counts as changed when
// Redis did not hold it.
func (s *Store) writeBackCluster(ctx context.Context, res *writeBackResult) error {
	s.share.clusterMu.Lock()
	defer s.share.clusterMu.Unlock()
	if s.share.cluster == nil {
		return nil
	}
	_, written, err := s.writeCluster(ctx, s.share.cluster)
	if err != nil {
		return err
	}
	res.cluster = 1
	if written {
		res.changed++
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
