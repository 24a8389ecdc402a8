package raftfsm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

func applyCmd(f *FSM, cmd []byte) error {
	res := f.Apply(&raft.Log{Type: raft.LogCommand, Data: cmd})
	if res == nil {
		return nil
	}
	return res.(error)
}

// seeded returns an FSM holding testModel and two up nodes.
func seeded(t *testing.T) (*FSM, *int) {
	t.Helper()
	changes := 0
	f := NewFSM(func() { changes++ })
	for _, cmd := range [][]byte{
		must(ApplyCommand(parse(t, testModel))),
		nodeUpsertCommand(Member{ID: "n1", HTTPAddr: "127.0.0.1:8080", RaftAddr: "127.0.0.1:7000"}),
		nodeUpsertCommand(Member{ID: "n2", HTTPAddr: "127.0.0.1:8081", RaftAddr: "127.0.0.1:7001"}),
	} {
		if err := applyCmd(f, cmd); err != nil {
			t.Fatal(err)
		}
	}
	return f, &changes
}

func TestFSMCommands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cmd     []byte
		wantErr error  // kind or sentinel; nil for success
		errText string // part of the message
		check   func(t *testing.T, f *FSM)
		epoch   uint64 // membership epoch after the command (seeded: 2)
	}{
		{name: "apply", cmd: must(ApplyCommand(parse(t, `modules: [{id: mod-b, driver_id: drv-display}]`))), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if m, v := f.Model(); m.Modules["mod-b"] == nil || v != 2 {
					t.Fatalf("mod-b missing or version %d", v)
				}
			}},
		{name: "apply invalid", cmd: must(ApplyCommand(parse(t, `modules: [{id: m9, driver_id: nope}]`))), epoch: 2,
			wantErr: errkind.BadRequest, errText: `module "m9": driver_id: no driver "nope"`},
		{name: "delete referenced", cmd: DeleteCommand(model.KindModule, "mod-a"), epoch: 2,
			wantErr: model.ErrReferenced, errText: `system "sys-1"`},
		{name: "delete unknown", cmd: DeleteCommand(model.KindZone, "zone-x"), epoch: 2, wantErr: errkind.NotFound},
		{name: "delete", cmd: DeleteCommand(model.KindSystem, "sys-1"), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if m, _ := f.Model(); m.Systems["sys-1"] != nil {
					t.Fatal("sys-1 still there")
				}
			}},
		{name: "set running", cmd: SetRunningCommand("mod-a", false), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if m, _ := f.Model(); m.Modules["mod-a"].Running {
					t.Fatal("still running")
				}
			}},
		{name: "set running unknown", cmd: SetRunningCommand("ghost", true), epoch: 2, wantErr: model.ErrNotFound},
		{name: "save setting", cmd: must(SaveSettingCommand("mod-a", "volume", json.RawMessage(`30`))), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if m, _ := f.Model(); string(m.Modules["mod-a"].Settings["volume"]) != "30" {
					t.Fatal("setting not saved")
				}
			}},
		{name: "node upsert new", cmd: nodeUpsertCommand(Member{ID: "n3", HTTPAddr: "h3", RaftAddr: "r3"}), epoch: 3,
			check: func(t *testing.T, f *FSM) {
				if n, ok := f.Node("n3"); !ok || !n.Up || n.HTTPAddr != "h3" {
					t.Fatalf("n3 = %+v", n)
				}
			}},
		{name: "node upsert same", cmd: nodeUpsertCommand(Member{ID: "n1", HTTPAddr: "127.0.0.1:8080", RaftAddr: "127.0.0.1:7000"}), epoch: 2},
		{name: "node upsert new address", cmd: nodeUpsertCommand(Member{ID: "n1", HTTPAddr: "127.0.0.1:9090", RaftAddr: "127.0.0.1:7000"}), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if n, _ := f.Node("n1"); n.HTTPAddr != "127.0.0.1:9090" {
					t.Fatalf("n1 = %+v", n)
				}
			}},
		{name: "node upsert takes over an address", cmd: nodeUpsertCommand(Member{ID: "n9", HTTPAddr: "h9", RaftAddr: "127.0.0.1:7001"}), epoch: 3,
			check: func(t *testing.T, f *FSM) {
				if _, ok := f.Node("n2"); ok {
					t.Fatal("n2 kept its entry although n9 took its address")
				}
			}},
		{name: "node upsert with labels, as a non-voter", cmd: nodeUpsertCommand(Member{ID: "n1", HTTPAddr: "127.0.0.1:8080", RaftAddr: "127.0.0.1:7000",
			Labels: placement.Labels{"site": "b"}, NonVoter: true}), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if n, _ := f.Node("n1"); n.Labels["site"] != "b" || !n.NonVoter || !n.Up {
					t.Fatalf("n1 = %+v", n)
				}
			}},
		{name: "node upsert without address", cmd: nodeUpsertCommand(Member{ID: "n4", HTTPAddr: "h", RaftAddr: ""}), epoch: 2, wantErr: ErrBadCommand},
		{name: "node down", cmd: SetNodeUpCommand("n2", false), epoch: 3,
			check: func(t *testing.T, f *FSM) {
				if n, _ := f.Node("n2"); n.Up {
					t.Fatal("n2 still up")
				}
			}},
		{name: "node up again is no change", cmd: SetNodeUpCommand("n2", true), epoch: 2},
		{name: "node up unknown", cmd: SetNodeUpCommand("ghost", true), epoch: 2, wantErr: ErrUnknownNode},
		{name: "node ready", cmd: SetNodeReadyCommand("n1", 2), epoch: 2,
			check: func(t *testing.T, f *FSM) {
				if n, _ := f.Node("n1"); n.ReadyEpoch != 2 || !n.ReadyFor(f.Epoch()) || n.ReadyFor(3) {
					t.Fatalf("n1 = %+v", n)
				}
			}},
		{name: "node ready future epoch", cmd: SetNodeReadyCommand("n1", 3), epoch: 2, wantErr: ErrMembership},
		{name: "node ready unknown", cmd: SetNodeReadyCommand("ghost", 1), epoch: 2, wantErr: ErrUnknownNode},
		{name: "node remove", cmd: nodeRemoveCommand("n2", false), epoch: 3,
			check: func(t *testing.T, f *FSM) {
				if len(f.Nodes()) != 1 {
					t.Fatalf("nodes %+v", f.Nodes())
				}
			}},
		{name: "node remove unknown is a no-op", cmd: nodeRemoveCommand("ghost", false), epoch: 2},
		{name: "unknown version", cmd: []byte(`{"v":2,"op":"apply","data":{}}`), epoch: 2, wantErr: ErrBadCommand, errText: "version 2"},
		{name: "missing version", cmd: []byte(`{"op":"apply","data":{}}`), epoch: 2, wantErr: ErrBadCommand},
		{name: "unknown op", cmd: []byte(`{"v":1,"op":"explode","data":{}}`), epoch: 2, wantErr: ErrBadCommand, errText: `unknown op "explode"`},
		{name: "join is not an FSM command", cmd: joinCommand(Member{ID: "n5", HTTPAddr: "h", RaftAddr: "r"}), epoch: 2, wantErr: ErrBadCommand},
		{name: "malformed JSON", cmd: []byte(`{"v":1,`), epoch: 2, wantErr: ErrBadCommand},
		{name: "malformed data", cmd: []byte(`{"v":1,"op":"set_running","data":[1]}`), epoch: 2, wantErr: ErrBadCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, changes := seeded(t)
			before := *changes
			m0, v0 := f.Model()
			err := applyCmd(f, tt.cmd)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case tt.errText != "" && !strings.Contains(err.Error(), tt.errText):
				t.Fatalf("error %q does not mention %q", err, tt.errText)
			}
			if err != nil {
				if m, v := f.Model(); m != m0 || v != v0 || *changes != before {
					t.Fatal("a refused command changed the state or signalled a change")
				}
			}
			if got := f.Epoch(); got != tt.epoch {
				t.Fatalf("epoch %d, want %d", got, tt.epoch)
			}
			if tt.check != nil {
				tt.check(t, f)
			}
		})
	}
}

func must(cmd []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return cmd
}

func TestBuildersRefuseInvalidJSON(t *testing.T) {
	t.Parallel()
	if _, err := SaveSettingCommand("mod-a", "x", json.RawMessage(`{`)); !errors.Is(err, errkind.BadRequest) || !strings.Contains(err.Error(), `setting "x" of module "mod-a"`) {
		t.Fatalf("save setting with invalid JSON: %v", err)
	}
	f := &model.File{Modules: []*model.Module{{ID: "m", DriverID: "d", Settings: model.Settings{"x": json.RawMessage(`{`)}}}}
	if _, err := ApplyCommand(f); !errors.Is(err, errkind.BadRequest) {
		t.Fatalf("apply with invalid settings JSON: %v", err)
	}
}

func TestFSMIgnoresNonCommandEntries(t *testing.T) {
	t.Parallel()
	f, _ := seeded(t)
	if res := f.Apply(&raft.Log{Type: raft.LogBarrier}); res != nil {
		t.Fatalf("barrier result %v", res)
	}
}

// persisted is f's snapshot as Persist writes it.
func persisted(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

// memSink is an in-memory raft.SnapshotSink.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestoreRoundTrip(t *testing.T) {
	t.Parallel()
	f, _ := seeded(t)
	for _, cmd := range [][]byte{
		must(SaveSettingCommand("mod-a", "volume", json.RawMessage(`{"level":30}`))),
		SetNodeUpCommand("n2", false),
		SetNodeReadyCommand("n1", 3),
	} {
		if err := applyCmd(f, cmd); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// A change after Snapshot must not leak into the persisted snapshot.
	if err := applyCmd(f, SetRunningCommand("mod-a", false)); err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	restored := 0
	g := NewFSM(func() { restored++ })
	if err := applyCmd(g, must(ApplyCommand(parse(t, `drivers: [{id: other, module_name: X, role: device, binary: /x}]`)))); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	gm, gv := g.Model()
	if gm.Drivers["other"] != nil {
		t.Fatal("restore kept state from before")
	}
	if !gm.Modules["mod-a"].Running || string(gm.Modules["mod-a"].Settings["volume"]) != `{"level":30}` || gv != 2 {
		t.Fatalf("restored model: %+v version %d", gm.Modules["mod-a"], gv)
	}
	if err := gm.Validate(); err != nil {
		t.Fatal(err)
	}
	if g.Epoch() != 3 || !jsonEqual(t, g.Nodes(), []Node{
		{ID: "n1", HTTPAddr: "127.0.0.1:8080", RaftAddr: "127.0.0.1:7000", Up: true, ReadyEpoch: 3},
		{ID: "n2", HTTPAddr: "127.0.0.1:8081", RaftAddr: "127.0.0.1:7001", Up: false},
	}) {
		t.Fatalf("restored epoch %d nodes %+v", g.Epoch(), g.Nodes())
	}
	if restored != 2 {
		t.Fatalf("restore signalled %d changes, want 1 after the apply", restored-1)
	}
	// A snapshot of another version, or garbage, is refused.
	for _, bad := range []string{`{"v":7}`, `not json`} {
		if err := g.Restore(io.NopCloser(strings.NewReader(bad))); err == nil {
			t.Fatalf("restore of %q accepted", bad)
		}
	}
}

func TestFSMApplyIsDeterministic(t *testing.T) {
	t.Parallel()
	cmds := [][]byte{
		must(ApplyCommand(parse(t, testModel))),
		nodeUpsertCommand(Member{ID: "n1", HTTPAddr: "h1", RaftAddr: "r1"}),
		must(SaveSettingCommand("mod-a", "x", json.RawMessage(`[1,2]`))),
		must(ApplyCommand(parse(t, `modules: [{id: bad, driver_id: nope}]`))),
		nodeUpsertCommand(Member{ID: "n2", HTTPAddr: "h2", RaftAddr: "r2"}),
		SetNodeUpCommand("n1", false),
		SetNodeReadyCommand("n2", 3),
		DeleteCommand(model.KindSystem, "sys-1"),
	}
	var dumps []string
	for range 3 {
		f := NewFSM(nil)
		// Some commands are refused on purpose: the replay must refuse them the same way.
		var results []string
		for _, c := range cmds {
			results = append(results, fmt.Sprint(applyCmd(f, c)))
		}
		dumps = append(dumps, strings.Join(results, "\n")+"\n"+string(persisted(t, f)))
	}
	if dumps[0] != dumps[1] || dumps[1] != dumps[2] {
		t.Fatalf("replays differ:\n%s\n%s", dumps[0], dumps[1])
	}
}

// modelStore mirrors core.ModelStore (raftfsm must not import core); the Store must satisfy it.
type modelStore interface {
	Model() (*model.Model, uint64)
	Watch(ctx context.Context) <-chan struct{}
	Apply(ctx context.Context, f *model.File) error
	Delete(ctx context.Context, kind model.Kind, id string) error
	SetRunning(ctx context.Context, moduleID string, running bool) error
	SaveSetting(ctx context.Context, moduleID, name string, value json.RawMessage) error
}

var _ modelStore = (*Store)(nil)
