package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/redis/go-redis/v9"
)

// SentinelURL reports whether a Redis URL names a Sentinel master (a master_name parameter):
// its host and its addr parameters are then sentinels, not the Redis server itself.
func SentinelURL(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has("master_name")
}

// NewClient makes the go-redis client a URL names. A URL with a master_name parameter is read by
// redis.ParseFailoverURL, go-redis's own Sentinel form —
//
//	redis://[user:password@]sentinel1:26379/0?master_name=mymaster&addr=sentinel2:26379&addr=sentinel3:26379
//
// where the user and password are the sentinels' and the password parameter the data nodes' —
// and gives the failover client, which asks the sentinels for the current primary on every new
// connection. Any other URL is read by redis.ParseURL. clientName, when not empty and the URL
// sets none, names the connections (CLIENT LIST). Errors never carry the URL's passwords. The
// client honours its callers' context deadlines down to the socket (ContextTimeoutEnabled):
// without it a frozen Redis holds a call for go-redis's own read timeouts and retries, whatever
// deadline its caller set — a module read, a module's start, a model write's answer.
func NewClient(rawURL, clientName string) (*redis.Client, error) {
	if _, err := url.Parse(rawURL); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, password included
		}
		return nil, fmt.Errorf("state: parse redis URL: %w", err)
	}
	if SentinelURL(rawURL) {
		fo, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("state: parse sentinel URL %s: %w", RedactURL(rawURL), err)
		}
		if fo.ClientName == "" {
			fo.ClientName = clientName
		}
		fo.ContextTimeoutEnabled = true
		return redis.NewFailoverClient(fo), nil
	}
	ro, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("state: parse redis URL %s: %w", RedactURL(rawURL), err)
	}
	if ro.ClientName == "" {
		ro.ClientName = clientName
	}
	ro.ContextTimeoutEnabled = true
	return redis.NewClient(ro), nil
}

// RedactURL is a Redis URL fit for a log line or an error: passwords, in the user part or in a
// password or sentinel_password parameter, are replaced by "xxxxx". A URL that does not parse is
// not shown at all.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	q := u.Query()
	changed := false
	for _, k := range []string{"password", "sentinel_password"} {
		if q.Has(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// redisLog carries go-redis's own messages (the primary the sentinels name, failed dials) into
// the node's log.
type redisLog struct{ log hclog.Logger }

func (l redisLog) Printf(_ context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	if strings.Contains(msg, "context canceled") {
		// go-redis asks all sentinels at once and cancels the others once one answers.
		l.log.Debug(msg)
		return
	}
	if strings.Contains(msg, "fail") || strings.Contains(msg, "error") {
		l.log.Warn(msg)
		return
	}
	l.log.Info(msg)
}

// LogRedisClient sends go-redis's own log lines, process-wide, to log (named "redis") instead of
// standard error. The composition root calls it once.
func LogRedisClient(log hclog.Logger) {
	redis.SetLogger(redisLog{log.Named("redis")})
}
