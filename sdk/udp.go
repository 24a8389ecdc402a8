package sdk

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"
)

// UDP is the UDP transport; see Conn. It "connects" at once (UDP has no handshake), so the
// module is connected and its queue online as soon as the socket exists.
type UDP = Conn

// UDPOptions configure a UDP transport.
type UDPOptions struct {
	Address string // host:port [the module's ip and port]
	// Tokenizer splits datagrams further [none: every datagram is one frame].
	Tokenizer *Tokenizer
	// Received gets every frame the running command's Response did not take.
	Received func(frame []byte, t *Task)
	// OnConnect runs once the socket is open.
	OnConnect func(ctx context.Context, u *UDP)
}

// NewUDP opens a UDP transport for the module that b belongs to. It stops with the module.
func NewUDP(b *Base, o UDPOptions) *UDP {
	if o.Address == "" {
		mc := b.Config()
		o.Address = net.JoinHostPort(mc.IP, strconv.Itoa(mc.Port))
	}
	addr := o.Address
	dial := func(ctx context.Context) (link, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "udp", addr)
		if err != nil {
			return nil, err
		}
		return &netLink{conn: c, udp: true}, nil
	}
	return newConn(b, connConfig{kind: "udp", addr: addr, dial: dial, tokenizer: o.Tokenizer,
		received: o.Received, onConnect: o.OnConnect})
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
