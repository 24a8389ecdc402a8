package state

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/placeos-go/engine/metrics"
)

// errorHook counts failed commands at the client, the one place every command (scripts and
// pipelines included) passes through. A missing key (redis.Nil) is an answer, not a failure,
// and a caller giving up (context canceled) says nothing about Redis.
type errorHook struct{ m *metrics.Metrics }

// DialHook passes through: a failed dial surfaces as the failed command that needed it.
func (h errorHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h errorHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if failed(cmd.Name(), err) {
			h.m.RedisError("command")
		}
		return err
	}
}

// ProcessPipelineHook counts a pipeline (or MULTI) once, however many of its commands failed.
func (h errorHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if err == nil || len(cmds) == 0 {
			return err
		}
		// The pipeline's error is its first failed command's; name that command.
		name := cmds[0].Name()
		for _, c := range cmds {
			if c.Err() != nil {
				name = c.Name()
				break
			}
		}
		if failed(name, err) {
			h.m.RedisError("command")
		}
		return err
	}
}

// failed reports a command whose error says something about Redis or the connection. Not
// counted: a missing key (redis.Nil), a caller giving up (context canceled), NOSCRIPT after a
// restart emptied the script cache (go-redis falls back to EVAL), and the optional handshake
// commands (HELLO, CLIENT ...) that go-redis sends on every new connection and that older
// servers refuse.
func failed(name string, err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) || redis.HasErrorPrefix(err, "NOSCRIPT") {
		return false
	}
	switch name {
	case "hello", "client":
		return false
	}
	return true
}
