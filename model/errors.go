package model

import "github.com/placeos-go/engine/errkind"

var (
	// ErrInvalid is wrapped by every validation error; the message names the entity and field.
	ErrInvalid = errkind.New(errkind.BadRequest, "invalid model")
	// ErrNotFound is returned for an entity id that does not exist.
	ErrNotFound = errkind.New(errkind.NotFound, "not found")
	// ErrNoSecretsKey is returned when protected settings must be sealed or opened on a node
	// that has no secrets key: a write carrying them is refused rather than stored in clear.
	ErrNoSecretsKey = errkind.New(errkind.BadRequest, "protected settings need a secrets key and this node has none (--secrets-key-file)")
	// ErrSecretsKey is wrapped by a key file that cannot be used and by a sealed value that does
	// not open with this node's key (another key, or corrupt): a misconfigured node, not a bad
	// request.
	ErrSecretsKey = errkind.New(errkind.Internal, "secrets key")
)
