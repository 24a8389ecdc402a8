package call

import (
	"unicode/utf8"

	"github.com/placeos-go/engine/errkind"
)

// MaxIdentifierBytes bounds every identifier a caller names something by: a system or module id,
// a module's name in a system, a function or status name — whether a client sends it (REST path,
// WebSocket request), a driver (its calls, subscriptions and statuses) or a management write (the
// ids and names of the model). Each distinct name becomes a Redis key or subscription, a log
// field, a Raft log entry; without a bound one caller holds a megabyte of each per name (the body
// or frame limit). 255 bytes is far beyond any real id or name (a DNS name is at most 253).
const MaxIdentifierBytes = 255

// ErrBadIdentifier is an identifier longer than MaxIdentifierBytes, or not UTF-8: 400 bad_request.
var ErrBadIdentifier = errkind.New(errkind.BadRequest, "bad identifier")

// CheckIdentifier refuses a value v of the identifier what ("the function name") longer than
// MaxIdentifierBytes or not UTF-8. The message names its length, never the value, which the
// caller would get back a megabyte of. It allocates only when it refuses: every execute passes.
func CheckIdentifier(what, v string) error {
	if len(v) > MaxIdentifierBytes {
		return errkind.Wrap(ErrBadIdentifier, nil, "%s is %d bytes long; an identifier may have at most %d bytes", what, len(v), MaxIdentifierBytes)
	}
	if !utf8.ValidString(v) {
		return errkind.Wrap(ErrBadIdentifier, nil, "%s is not valid UTF-8", what)
	}
	return nil
}
