package sdk

import (
	"context"

	"github.com/hashicorp/go-hclog"
)

type ctxKey int

const callKey ctxKey = iota

// call is what a context knows about the call it belongs to. One value rather than one per field
// keeps an exec to a single context allocation.
type call struct {
	userID, requestID string
	log               hclog.Logger // the module's logger; nil outside a module
	// exec marks an exec's context: a command waited for under it has a caller who hears how
	// it ended, so its failure is not a background one (Queue).
	exec bool
}

func callOf(ctx context.Context) *call {
	c, _ := ctx.Value(callKey).(*call)
	return c
}

// UserID is the id of the user on whose behalf an exec runs ("" for internal calls). Calls the
// driver makes to other modules with this context carry it on.
func UserID(ctx context.Context) string {
	if c := callOf(ctx); c != nil {
		return c.userID
	}
	return ""
}

// RequestID is the id of the request that caused an exec, for correlating log lines.
func RequestID(ctx context.Context) string {
	if c := callOf(ctx); c != nil {
		return c.requestID
	}
	return ""
}

// WithUser returns a context that carries a user id and request id, as an exec context does.
// Useful for driver-initiated calls on behalf of a known user, and in tests.
func WithUser(ctx context.Context, userID, requestID string) context.Context {
	c := &call{userID: userID, requestID: requestID}
	if prev := callOf(ctx); prev != nil {
		c.log, c.exec = prev.log, prev.exec
	}
	return context.WithValue(ctx, callKey, c)
}

// withModuleLog makes Log(ctx) the module's logger.
func withModuleLog(ctx context.Context, log hclog.Logger) context.Context {
	c := &call{log: log}
	if prev := callOf(ctx); prev != nil {
		c.userID, c.requestID, c.exec = prev.userID, prev.requestID, prev.exec
	}
	return context.WithValue(ctx, callKey, c)
}

// Log is the logger for work done under ctx: within an exec, the module's logger with the
// request_id (and user, when there is one) of the request that caused it, so the driver's lines
// can be found from the host's by request id; in a module's own goroutines (Base.Context,
// Base.Go) the module's logger. Outside a module it discards.
func Log(ctx context.Context) hclog.Logger {
	c := callOf(ctx)
	switch {
	case c == nil || c.log == nil:
		return nullLogger
	case c.requestID == "" && c.userID == "":
		return c.log
	case c.userID == "":
		return c.log.With("request_id", c.requestID)
	default:
		return c.log.With("request_id", c.requestID, "user", c.userID)
	}
}
