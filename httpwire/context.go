package httpwire

import (
	"context"

	"github.com/placeos-go/engine/auth"
)

// Context is a request's context: its parent's with the request id (RequestID) and, once known,
// the caller (auth.CallerFrom). A server keeps it in an allocation it makes per request anyway:
// context.WithValue would take one allocation per value, and one more to box the caller. Init
// and SetCaller before the request is handed on; nothing in it changes afterwards.
type Context struct {
	context.Context
	id        *string
	caller    auth.Caller
	hasCaller bool
}

// Init sets the parent and the request id (*id must not change afterwards).
func (c *Context) Init(parent context.Context, id *string) { c.Context, c.id = parent, id }

// SetCaller sets the caller.
func (c *Context) SetCaller(caller auth.Caller) { c.caller, c.hasCaller = caller, true }

// Value answers the request id and the caller as pointers (no allocation); any other key is
// the parent's.
func (c *Context) Value(key any) any {
	switch key {
	case RequestIDKey:
		if c.id != nil {
			return c.id
		}
	case auth.CallerKey:
		if c.hasCaller {
			return &c.caller
		}
	}
	return c.Context.Value(key)
}
