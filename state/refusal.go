package state

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// refusalWait bounds how long refusal waits for a Redis to say why it refuses connections.
const refusalWait = time.Second

// withRefusal adds to err, a failure to reach Redis through c, what Redis says to a new
// connection when it refuses them. Past maxclients, or in protected mode, Redis writes one error
// line ("-ERR max number of clients reached", "-DENIED Redis is running in protected mode …") and
// closes the connection; go-redis, sending its HELLO meanwhile, reports only "broken pipe" or
// EOF, which tells an operator nothing. err is returned as it is when Redis says nothing (it is
// down, or it answers).
func withRefusal(ctx context.Context, c *redis.Client, err error) error {
	if why := refusal(ctx, c); why != "" {
		return fmt.Errorf("%w (redis says: %s)", err, why)
	}
	return err
}

// refusal is the error line Redis writes unasked on a new connection of c's, or "".
func refusal(ctx context.Context, c *redis.Client) string {
	o := c.Options()
	if o.Dialer == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, refusalWait)
	defer cancel()
	conn, err := o.Dialer(ctx, o.Network, o.Addr) // the client's own: TLS, Sentinel as configured
	if err != nil {
		return ""
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetReadDeadline(dl)
	line, err := bufio.NewReaderSize(conn, 512).ReadSlice('\n')
	if err != nil || len(line) < 2 || line[0] != '-' {
		return ""
	}
	// Only what a person can read: the line comes from the network.
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, string(line[1:]))
}
