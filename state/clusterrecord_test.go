package state

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/placeos-go/engine/internal/testutil"
)

// The leader's KeepCluster writes the record only when Redis does not hold it as written, and
// answers what it replaced: nothing when the key was missing, another writer's record when one
// overwrote it.
func TestKeepClusterWritesOnlyWhatDiffers(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	raw := r.Client(t)
	s, _ := newStore(t, r)
	rec := &ClusterRecord{Members: []string{"n1", "n2", "n3"}, Leader: "n1", At: time.Now().UTC()}
	want, _ := json.Marshal(rec)

	replaced, written, err := s.KeepCluster(ctxT(t), rec)
	if err != nil || !written || replaced != nil {
		t.Fatalf("first keep: replaced %q, written %v, %v; want written over nothing", replaced, written, err)
	}
	if got := raw.Get(ctxT(t), ClusterKey).Val(); got != string(want) {
		t.Fatalf("%s holds %s, want %s", ClusterKey, got, want)
	}
	if replaced, written, err = s.KeepCluster(ctxT(t), rec); err != nil || written || replaced != nil {
		t.Fatalf("keeping what Redis holds: replaced %q, written %v, %v; want nothing written", replaced, written, err)
	}

	theirs := `{"members":["n1"],"leader":"n1","at":"2030-01-01T00:00:00Z"}`
	if err := raw.Set(ctxT(t), ClusterKey, theirs, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if replaced, written, err = s.KeepCluster(ctxT(t), rec); err != nil || !written || string(replaced) != theirs {
		t.Fatalf("keeping over another writer's record: replaced %q, written %v, %v; want %s replaced", replaced, written, err, theirs)
	}
	if got, ok, err := s.Cluster(ctxT(t)); err != nil || !ok || len(got.Members) != 3 {
		t.Fatalf("Cluster() = %+v, %v, %v; want the three members back", got, ok, err)
	}
}

// A record the leader keeps comes back with its share when Redis loses its data while connected
// (the node's marker tells): even on a node that hosts no module and owns no system. Once the
// node no longer leads (KeepCluster(nil)), a loss does not bring back its record.
func TestClusterRecordWrittenBackAfterALoss(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
	raw := r.Client(t)
	s, _ := newStore(t, r, fastLossCheck)
	rec := &ClusterRecord{Members: []string{"n1", "n2"}, Leader: "n1", At: time.Now().UTC()}
	if _, _, err := s.KeepCluster(ctxT(t), rec); err != nil {
		t.Fatal(err)
	}
	if err := raw.FlushAll(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the cluster record back after FLUSHALL", func() bool {
		got, ok, _ := s.Cluster(ctxT(t))
		return ok && got.Leader == "n1" && len(got.Members) == 2
	})

	if _, _, err := s.KeepCluster(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if err := raw.FlushAll(ctxT(t)).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the node's marker written back after the second FLUSHALL", func() bool {
		return raw.Exists(ctxT(t), s.marker).Val() == 1
	})
	if n := raw.Exists(ctxT(t), ClusterKey).Val(); n != 0 {
		t.Fatalf("a node that no longer leads wrote the cluster record back")
	}
}
