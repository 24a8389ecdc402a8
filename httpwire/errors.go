package httpwire

import "github.com/placeos-go/engine/errkind"

var (
	// ErrBadBody: a body that cannot be read or has the wrong shape.
	ErrBadBody = errkind.New(errkind.BadRequest, "bad request body")
	// ErrMalformedJSON: a body that is not JSON.
	ErrMalformedJSON = errkind.New(errkind.Malformed, "malformed JSON")
	// ErrBadParameter: a query or path parameter with a bad value.
	ErrBadParameter = errkind.New(errkind.BadRequest, "bad parameter")
)
