package sdk

import "context"

type ctxKey int

const (
	userIDKey ctxKey = iota
	requestIDKey
)

// UserID is the id of the user on whose behalf an exec runs ("" for internal calls). Calls the
// driver makes to other modules with this context carry it on.
func UserID(ctx context.Context) string {
	s, _ := ctx.Value(userIDKey).(string)
	return s
}

// RequestID is the id of the request that caused an exec, for correlating log lines.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithUser returns a context that carries a user id and request id, as an exec context does.
// Useful for driver-initiated calls on behalf of a known user, and in tests.
func WithUser(ctx context.Context, userID, requestID string) context.Context {
	ctx = context.WithValue(ctx, userIDKey, userID)
	return context.WithValue(ctx, requestIDKey, requestID)
}
