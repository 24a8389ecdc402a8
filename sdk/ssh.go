package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSH is the SSH shell transport; see Conn. It opens a shell session and treats the session's
// stdin and stdout as the device stream.
type SSH = Conn

// SSHOptions configure an SSH shell transport.
type SSHOptions struct {
	Address  string // host:port [the module's ip and port, port 22 when unset]
	User     string
	Password string // password auth (also answers keyboard-interactive prompts)
	// PrivateKey is a PEM private key for public-key auth; Passphrase decrypts it.
	PrivateKey []byte
	Passphrase string
	// HostKey pins the server's key (authorized_keys format). When empty the key is not checked,
	// as most AV devices present self-generated keys; pin it when the device allows.
	HostKey   string
	PTY       bool // request a pseudo-terminal (some devices only run their CLI on one)
	Tokenizer *Tokenizer
	Received  func(frame []byte, t *Task)
	OnConnect func(ctx context.Context, s *SSH)
}

// NewSSH starts an SSH shell transport for the module that b belongs to. It fails at once on a
// bad key; connection problems are retried with backoff.
func NewSSH(b *Base, o SSHOptions) (*SSH, error) {
	if o.Address == "" {
		mc := b.Config()
		port := mc.Port
		if port == 0 {
			port = 22
		}
		o.Address = net.JoinHostPort(mc.IP, strconv.Itoa(port))
	}
	var auth []ssh.AuthMethod
	if len(o.PrivateKey) > 0 {
		var signer ssh.Signer
		var err error
		if o.Passphrase != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase(o.PrivateKey, []byte(o.Passphrase))
		} else {
			signer, err = ssh.ParsePrivateKey(o.PrivateKey)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: ssh private key: %w", ErrBadSettings, err)
		}
		auth = append(auth, ssh.PublicKeys(signer))
	}
	if o.Password != "" {
		pw := o.Password
		auth = append(auth, ssh.Password(pw), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			answers := make([]string, len(qs))
			for i := range answers {
				answers[i] = pw
			}
			return answers, nil
		}))
	}
	hostKey := ssh.InsecureIgnoreHostKey() //nolint:gosec // documented: pin with HostKey
	if o.HostKey != "" {
		pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(o.HostKey))
		if err != nil {
			return nil, fmt.Errorf("%w: ssh host key: %w", ErrBadSettings, err)
		}
		hostKey = ssh.FixedHostKey(pk)
	}
	cfg := &ssh.ClientConfig{User: o.User, Auth: auth, HostKeyCallback: hostKey, Timeout: 10 * time.Second}
	addr := o.Address
	dial := func(ctx context.Context) (link, error) {
		d := &net.Dialer{Timeout: cfg.Timeout}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		cc, chans, reqs, err := ssh.NewClientConn(nc, addr, cfg)
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		client := ssh.NewClient(cc, chans, reqs)
		l, err := openShell(client, o.PTY)
		if err != nil {
			_ = client.Close()
			return nil, err
		}
		return l, nil
	}
	tok := o.Tokenizer
	if tok == nil {
		tok = Delimiter("\n")
	}
	return newConn(b, connConfig{kind: "ssh", addr: addr, dial: dial, tokenizer: tok,
		received: o.Received, onConnect: o.OnConnect}), nil
}

func openShell(client *ssh.Client, pty bool) (*sshLink, error) {
	s, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("ssh session: %w", err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := s.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if pty {
		if err := s.RequestPty("vt100", 80, 200, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
			return nil, fmt.Errorf("ssh pty: %w", err)
		}
	}
	if err := s.Shell(); err != nil {
		return nil, fmt.Errorf("ssh shell: %w", err)
	}
	return &sshLink{client: client, session: s, in: in, out: out, buf: make([]byte, 32<<10)}, nil
}

type sshLink struct {
	client  *ssh.Client
	session *ssh.Session
	in      io.WriteCloser
	out     io.Reader
	buf     []byte
}

func (l *sshLink) read() ([]byte, error) {
	n, err := l.out.Read(l.buf)
	if errors.Is(err, io.EOF) {
		err = net.ErrClosed
	}
	return append([]byte(nil), l.buf[:n]...), err
}

func (l *sshLink) write(_ context.Context, data []byte) error {
	_, err := l.in.Write(data)
	return err
}

func (l *sshLink) close() error {
	_ = l.session.Close()
	return l.client.Close()
}
