package peer

import (
	"encoding/json"
	"errors"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/httpwire"
	"github.com/placeos-go/engine/model"
	"github.com/placeos-go/engine/raftfsm"
)

// unsealedWrite is the answer to a forwarded write that the leader refused (err): a bad request
// (400) when a protected setting in it is not a sealed value at all, else err. A node seals
// protected settings before it forwards a write (model.File.Seal), so only a sender that is no
// engine node sends one in the clear; the store reports it as a secrets-key failure (500), which
// is right only for a value sealed with another node's key.
func unsealedWrite(cmd []byte, err error) error {
	if !errors.Is(err, model.ErrSecretsKey) {
		return err
	}
	var e struct {
		Op   string     `json:"op"`
		Data model.File `json:"data"`
	}
	if json.Unmarshal(cmd, &e) != nil || e.Op != raftfsm.OpApply {
		return err
	}
	// Without a key every sealed value fails as ErrNoSecretsKey; only a value that is not one
	// fails as ErrSecretsKey.
	if cerr := e.Data.CheckSealed(nil); errors.Is(cerr, model.ErrSecretsKey) {
		return errkind.Wrap(httpwire.ErrBadBody, nil,
			"forwarded write: a protected setting is not a sealed value (%v); a node seals protected settings before it forwards a write", cerr)
	}
	return err
}
