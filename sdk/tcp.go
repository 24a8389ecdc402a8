package sdk

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"time"
)

// TCP is the TCP transport (optionally TLS); see Conn.
type TCP = Conn

// TCPOptions configure a TCP transport. Zero values take the defaults in brackets.
type TCPOptions struct {
	Address     string        // host:port [the module's ip and port]
	DefaultPort int           // the port when the module has none (the device's usual one) [none]
	Delimiter   []byte        // shorthand for Tokenizer: Delimiter(string(d)) ["\r\n" when Tokenizer is nil]
	Tokenizer   *Tokenizer    // how the stream splits into frames [Delimiter]
	MaxFrame    int           // longest frame the default delimiter tokenizer buffers [1 MiB]
	DialTimeout time.Duration // [5 s]
	MinBackoff  time.Duration // first reconnect delay [250 ms]
	MaxBackoff  time.Duration // longest reconnect delay [5 s]
	// TLS turns TLS on with this configuration; the module's tls flag turns it on with
	// {ServerName: host, InsecureSkipVerify: InsecureSkipVerify}.
	TLS                *tls.Config
	InsecureSkipVerify bool
	// MakeBreak connects per command and disconnects after IdleTimeout [the module's makebreak].
	MakeBreak   bool
	IdleTimeout time.Duration // [10 s]
	// Received gets every frame the running command's Response did not take, with the running
	// command (nil when none) so the driver can complete it.
	Received func(frame []byte, t *Task)
	// Handshake runs on each new connection before any command is sent: read the device's
	// greeting (h.Next), log in (h.Send). Meanwhile frames go to it, not to Received, the queue
	// is offline (named commands wait, unnamed ones fail at once) and "connected" is false.
	// An error, or HandshakeTimeout passing (h.Next returns ErrHandshakeTimeout), is logged
	// ("handshake failed": at WARN, at DEBUG while the same error repeats; "handshake
	// succeeded" at INFO when one succeeds after failures; failed connects are logged the same
	// way: "connect failed", then "connected" at INFO), closes the connection and is what unnamed commands fail with
	// until a handshake succeeds (as is when it is an *Error; else 504 for a timeout, 502); the
	// transport reconnects with growing pauses, as after a failed connect, except that a
	// settings update (a corrected password) is tried at once.
	Handshake        func(ctx context.Context, h *Handshake) error
	HandshakeTimeout time.Duration // [DefaultHandshakeTimeout, 5 s], on the module's clock
	// OnConnect runs in its own goroutine after each successful connect (after the handshake),
	// e.g. to query state. It gets the transport because it may run before NewTCP has returned.
	// Its context ends with the connection.
	OnConnect func(ctx context.Context, t *TCP)
	// OnDisconnect runs when a connection ends, before the transport dials again (and before
	// the queue can send on the next connection): forget what belonged to the connection. (A
	// greeting or login the device expects on every connection belongs in Handshake.)
	OnDisconnect func()
}

// NewTCP starts a TCP transport for the module that b belongs to. It stops with the module.
func NewTCP(b *Base, o TCPOptions) *TCP {
	mc := b.Config()
	if o.Address == "" {
		port := mc.Port
		if port == 0 {
			port = o.DefaultPort
		}
		o.Address = net.JoinHostPort(mc.IP, strconv.Itoa(port))
	}
	tok := o.Tokenizer
	if tok == nil {
		d := string(o.Delimiter)
		if d == "" {
			d = "\r\n"
		}
		tok = Delimiter(d)
		if o.MaxFrame > 0 {
			tok.max = o.MaxFrame
		}
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	tlsCfg := o.TLS
	if tlsCfg == nil && mc.TLS {
		host, _, _ := net.SplitHostPort(o.Address)
		tlsCfg = &tls.Config{ServerName: host, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // the module's settings choose
	}
	addr := o.Address
	dial := func(ctx context.Context) (link, error) {
		d := &net.Dialer{Timeout: o.DialTimeout}
		if tlsCfg != nil {
			c, err := (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return &netLink{conn: c}, nil
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &netLink{conn: c}, nil
	}
	kind := "tcp"
	if tlsCfg != nil {
		kind = "tls"
	}
	return newConn(b, connConfig{
		kind: kind, addr: addr, dial: dial, tokenizer: tok, received: o.Received, onConnect: o.OnConnect, onDisconnect: o.OnDisconnect,
		minBackoff: o.MinBackoff, maxBackoff: o.MaxBackoff, makebreak: o.MakeBreak || mc.MakeBreak, idle: o.IdleTimeout,
		handshake: o.Handshake, handshakeTimeout: o.HandshakeTimeout,
	})
}
