package model

import "github.com/placeos-go/engine/errkind"

var (
	// ErrInvalid is wrapped by every validation error; the message names the entity and field.
	ErrInvalid = errkind.New(errkind.BadRequest, "invalid model")
	// ErrNotFound is returned for an entity id that does not exist.
	ErrNotFound = errkind.New(errkind.NotFound, "not found")
)
