package model

import "github.com/placeos-go/engine/errkind"

var (
	// ErrInvalid is wrapped by every validation error; the message names the entity and field.
	ErrInvalid = errkind.New(errkind.BadRequest, "invalid model")
	// ErrNotFound is returned for an entity id that does not exist. It is an EntityNotFound so
	// that a missing zone, driver or repository is not reported as a missing module.
	ErrNotFound = errkind.New(errkind.EntityNotFound, "not found")
)
