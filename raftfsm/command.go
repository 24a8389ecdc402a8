package raftfsm

import (
	"encoding/json"
	"fmt"

	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/placement"
)

// CommandVersion is the version of the command envelope this build writes. Apply refuses other
// versions with an error result instead of guessing, so that a mixed-version cluster fails loudly
// rather than diverging.
const CommandVersion = 1

// Ops carried in the envelope. The first group changes the FSM and goes through the Raft log; the
// second is a request to the leader (a membership change), only ever forwarded, never logged.
const (
	OpApply        = "apply"
	OpDelete       = "delete"
	OpSetRunning   = "set_running"
	OpSaveSetting  = "save_setting"
	OpNodeUpsert   = "node_upsert"
	OpNodeRemove   = "node_remove"
	OpSetNodeUp    = "set_node_up"
	OpSetNodeReady = "set_node_ready"
	// OpSetNodeStarting marks a node that (re)started not ready for any epoch until its first pass
	// (catchUp): the node table would otherwise say it is ready for the epoch it was ready for
	// before it stopped.
	OpSetNodeStarting = "set_node_starting"
	// OpBarrier changes nothing: a node that sees its token applied has applied everything the
	// cluster committed before it (Store.Barrier).
	OpBarrier = "barrier"

	OpJoin  = "join"
	OpLeave = "leave"
)

// envelope is the wire form of every command: {"v":1,"op":"...","data":...}.
type envelope struct {
	V    int             `json:"v"`
	Op   string          `json:"op"`
	Data json.RawMessage `json:"data"`
}

type deleteData struct {
	Kind model.Kind `json:"kind"`
	ID   string     `json:"id"`
}

type runningData struct {
	Module  string `json:"module"`
	Running bool   `json:"running"`
}

type barrierData struct {
	Token string `json:"token"`
}

// barrierCommand is a barrier carrying token.
func barrierCommand(token string) []byte { return encode(OpBarrier, barrierData{Token: token}) }

type settingData struct {
	Module string          `json:"module"`
	Name   string          `json:"name"`
	Value  json.RawMessage `json:"value"`
}

// Member is what a node tells the cluster about itself when it joins (and what node_upsert
// records): its id, addresses, labels and whether it votes.
type Member struct {
	ID       string           `json:"id"`
	HTTPAddr string           `json:"http_addr"`
	RaftAddr string           `json:"raft_addr"`
	Labels   placement.Labels `json:"labels,omitempty"`
	// NonVoter joins as a Raft non-voter; absent (older nodes) means a voter.
	NonVoter bool `json:"non_voter,omitempty"`
	// Cert is the fingerprint (clustertls.Fingerprint) of the certificate the node joined with:
	// set by the member that took the join from the node's TLS connection, never by the joiner's
	// word; "" without TLS. Older nodes leave it out, and ignore it.
	Cert string `json:"cert,omitempty"`
}

type nodeIDData struct {
	ID string `json:"id"`
	// Revoke (leave, node_remove): the node's recorded certificates are revoked with its removal.
	// An older node ignores it and only removes the node.
	Revoke bool `json:"revoke,omitempty"`
	// Hold (node_remove): the node is removed but its entry stays, marked Removing, so that its
	// modules stay placed on it until the leader releases it (removal.go). An older node ignores it
	// and removes the node at once.
	Hold bool `json:"hold,omitempty"`
	// Release (node_remove): the entry goes only if it is still marked Removing (a node that
	// joined again meanwhile stays).
	Release bool `json:"release,omitempty"`
}

type nodeUpData struct {
	ID string `json:"id"`
	Up bool   `json:"up"`
}

type nodeReadyData struct {
	ID    string `json:"id"`
	Epoch uint64 `json:"epoch"`
}

// encode builds a command whose payload cannot fail to marshal (plain structs).
func encode(op string, data any) []byte {
	out, err := marshal(op, data)
	if err != nil {
		panic(fmt.Sprintf("raftfsm: encode %s: %v", op, err))
	}
	return out
}

// marshal builds a command; it fails only for a payload carrying invalid raw JSON.
func marshal(op string, data any) ([]byte, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCommand, op, err)
	}
	return json.Marshal(envelope{V: CommandVersion, Op: op, Data: raw})
}

// decode parses the envelope and checks its version; the op is checked by the caller.
func decode(cmd []byte) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(cmd, &e); err != nil {
		return e, fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	if e.V != CommandVersion {
		return e, fmt.Errorf("%w: version %d is not supported (this node speaks %d)", ErrBadCommand, e.V, CommandVersion)
	}
	return e, nil
}

func decodeData(e envelope, into any) error {
	if err := json.Unmarshal(e.Data, into); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrBadCommand, e.Op, err)
	}
	return nil
}

// applyFile returns the model file an apply command carries (ok false for any other command).
func applyFile(cmd []byte) (*model.File, bool) {
	e, err := decode(cmd)
	if err != nil || e.Op != OpApply {
		return nil, false
	}
	var f model.File
	if decodeData(e, &f) != nil {
		return nil, false
	}
	return &f, true
}

// The public builders, for callers that forward a command or test the FSM.

// ApplyCommand upserts every entity of f. It fails (BadRequest) when a settings value is not
// valid JSON. Protected settings must already be sealed (model.File.Seal; Store.Apply does it).
func ApplyCommand(f *model.File) ([]byte, error) { return marshal(OpApply, f) }

// DeleteCommand deletes one entity.
func DeleteCommand(kind model.Kind, id string) []byte {
	return encode(OpDelete, deleteData{Kind: kind, ID: id})
}

// SetRunningCommand sets a module's desired running state.
func SetRunningCommand(moduleID string, running bool) []byte {
	return encode(OpSetRunning, runningData{Module: moduleID, Running: running})
}

// SaveSettingCommand sets one of a module's own settings. It fails (BadRequest) when value is
// not valid JSON.
func SaveSettingCommand(moduleID, name string, value json.RawMessage) ([]byte, error) {
	if !json.Valid(value) {
		return nil, fmt.Errorf("%w: setting %q of module %q is not valid JSON", model.ErrInvalid, name, moduleID)
	}
	return marshal(OpSaveSetting, settingData{Module: moduleID, Name: name, Value: value})
}

// SetNodeUpCommand marks a node up or down.
func SetNodeUpCommand(id string, up bool) []byte {
	return encode(OpSetNodeUp, nodeUpData{ID: id, Up: up})
}

// SetNodeReadyCommand records that a node has reconciled its share for epoch.
func SetNodeReadyCommand(id string, epoch uint64) []byte {
	return encode(OpSetNodeReady, nodeReadyData{ID: id, Epoch: epoch})
}

func nodeUpsertCommand(m Member) []byte { return encode(OpNodeUpsert, m) }

func setNodeStartingCommand(id string) []byte { return encode(OpSetNodeStarting, nodeIDData{ID: id}) }

func nodeRemoveCommand(id string, revoke bool) []byte {
	return encode(OpNodeRemove, nodeIDData{ID: id, Revoke: revoke})
}

func nodeHoldCommand(id string) []byte {
	return encode(OpNodeRemove, nodeIDData{ID: id, Revoke: true, Hold: true})
}

func nodeReleaseCommand(id string) []byte {
	return encode(OpNodeRemove, nodeIDData{ID: id, Release: true})
}

func joinCommand(m Member) []byte { return encode(OpJoin, m) }

func leaveCommand(id string, revoke bool) []byte {
	return encode(OpLeave, nodeIDData{ID: id, Revoke: revoke})
}
