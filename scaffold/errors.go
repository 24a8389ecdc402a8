package scaffold

import "github.com/placeos-go/engine/errkind"

// ErrInvalid is every refusal of a driver to write: a bad name or transport, a folder in the
// way, a path Go cannot import, --module where no repository is made. Each says what to give
// instead; nothing is written.
var ErrInvalid = errkind.New(errkind.BadRequest, "invalid new driver")

// invalid is a refusal: an ErrInvalid with its own message.
func invalid(format string, args ...any) error { return errkind.Wrap(ErrInvalid, nil, format, args...) }
