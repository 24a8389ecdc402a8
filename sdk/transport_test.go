package sdk_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/crypto/ssh"

	"github.com/placeos-go/engine/sdk"
	"github.com/placeos-go/engine/sdk/sdktest"
)

// tdrv opens the transport its settings name and echoes requests through it.
type tdrv struct {
	sdk.Base
	conn *sdk.Conn
	http *sdk.HTTP
}

type tset struct {
	Transport string `json:"transport"`
	Password  string `json:"password"`
}

func (d *tdrv) OnLoad(context.Context) error {
	var s tset
	if err := d.Settings(&s); err != nil {
		return err
	}
	var err error
	switch s.Transport {
	case "tcp", "tls", "makebreak":
		d.conn = sdk.NewTCP(&d.Base, sdk.TCPOptions{InsecureSkipVerify: true, Tokenizer: sdk.Delimiter("\n")})
	case "udp":
		d.conn = sdk.NewUDP(&d.Base, sdk.UDPOptions{})
	case "ws":
		d.conn = sdk.NewWebSocket(&d.Base, sdk.WebSocketOptions{})
	case "ssh":
		d.conn, err = sdk.NewSSH(&d.Base, sdk.SSHOptions{User: "admin", Password: s.Password})
	case "http":
		d.http, err = sdk.NewHTTP(&d.Base, sdk.HTTPOptions{Username: "u", Password: "p"})
	}
	return err
}

type reqArgs struct {
	Data string `json:"data"`
}

// Request sends data and returns the first frame that comes back.
func (d *tdrv) Request(ctx context.Context, a reqArgs) (string, error) {
	b, err := d.conn.Request(ctx, []byte(a.Data))
	return string(b), err
}

// Lamp reads /lamps/1 from the HTTP service and switches it.
func (d *tdrv) Lamp(ctx context.Context, a struct{ Level int }) (map[string]any, error) {
	var out map[string]any
	err := d.http.PutJSON(ctx, "/lamps/1?fade=2", map[string]int{"level": a.Level}, &out)
	return out, err
}

func newT(t *testing.T, opts ...sdk.Option) *sdktest.Harness {
	return sdktest.New(t, func() *tdrv { return &tdrv{} }, opts...)
}

func TestUDP(t *testing.T) {
	t.Parallel()
	h := newT(t)
	dev := h.UDPDevice()
	h.Start(sdktest.Module{Name: "U", Settings: tset{Transport: "udp"}})
	h.WaitStatus("connected", true)
	p := h.ExecAsync("request", "\x01PING")
	dev.ShouldSend("\x01PING")
	dev.Respond("\x01PONG")
	if r := p.Result(); string(r.Value) != `"\u0001PONG"` {
		t.Fatalf("udp: %s", r)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t, srv)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go echoLines(ln)
	h := newT(t)
	port := ln.Addr().(*net.TCPAddr).Port
	h.Start(sdktest.Module{Name: "T", IP: "127.0.0.1", Port: port, TLS: true, Settings: tset{Transport: "tls"}})
	h.WaitStatus("connected", true)
	if r := h.Exec("request", "hello\n"); string(r.Value) != `"hello"` {
		t.Fatalf("tls echo: %s", r)
	}
}

// selfSigned borrows httptest's built-in certificate.
func selfSigned(t *testing.T, srv *httptest.Server) tls.Certificate {
	t.Helper()
	srv.StartTLS()
	cert := srv.TLS.Certificates[0]
	srv.Close()
	return cert
}

func echoLines(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				_, _ = c.Write([]byte(sc.Text() + "\n"))
			}
		}()
	}
}

func TestMakeBreak(t *testing.T) {
	t.Parallel()
	clk := sdktest.NewClock()
	h := newT(t, sdk.WithClock(clk))
	dev := h.TCPDevice()
	h.Start(sdktest.Module{Name: "M", MakeBreak: true, Settings: tset{Transport: "makebreak"}})
	h.WaitStatus("connected", true) // counted as connected without a connection
	if dev.Connections() != 0 {
		t.Fatal("makebreak connected before any command")
	}
	p := h.ExecAsync("request", "Q\n")
	dev.ShouldSend("Q\n")
	dev.Respond("A\n")
	if r := p.Result(); string(r.Value) != `"A"` {
		t.Fatalf("makebreak: %s", r)
	}
	clk.Advance(10 * time.Second) // idle: the connection closes
	h.Wait("idle connection closed", func() bool { return !dev.Connected() })
	p = h.ExecAsync("request", "Q2\n")
	dev.ExpectConnect(2)
	dev.ShouldSend("Q2\n")
	dev.Respond("A2\n")
	p.Result()
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(typ, append([]byte("echo:"), msg...))
		}
	}))
	t.Cleanup(srv.Close)
	h := newT(t)
	h.Start(sdktest.Module{Name: "W", Role: "websocket", URI: "ws" + strings.TrimPrefix(srv.URL, "http"), Settings: tset{Transport: "ws"}})
	h.WaitStatus("connected", true)
	if r := h.Exec("request", `{"cmd":"hi"}`); string(r.Value) != `"echo:{\"cmd\":\"hi\"}"` {
		t.Fatalf("ws: %s", r)
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	h := newT(t)
	srv := h.HTTPServer()
	h.Start(sdktest.Module{Name: "H", Settings: tset{Transport: "http"}})
	p := h.ExecAsync("lamp", 40)
	srv.Expect(func(w http.ResponseWriter, r *sdktest.Request) {
		if u, pw, ok := r.BasicAuth(); !ok || u != "u" || pw != "p" {
			t.Errorf("basic auth %q %q", u, pw)
		}
		if r.Method != "PUT" || r.URL.RequestURI() != "/lamps/1?fade=2" || string(r.Body) != `{"level":40}` {
			t.Errorf("request %s %s %s", r.Method, r.URL, r.Body)
		}
		_, _ = w.Write([]byte(`{"level":40,"on":true}`))
	})
	if r := p.Result(); string(r.Value) != `{"level":40,"on":true}` {
		t.Fatalf("http: %s", r)
	}
	h.WaitStatus("connected", true)
	p = h.ExecAsync("lamp", 1)
	srv.ExpectJSON("PUT", "/lamps/1?fade=2", nil, 503, map[string]string{"error": "overloaded"})
	if r := p.Result(); r.Code != 502 || !strings.Contains(r.Message(), "HTTP 503") {
		t.Fatalf("http error: %s", r)
	}
}

func TestSSH(t *testing.T) {
	t.Parallel()
	addr := sshServer(t, "secret")
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	h := newT(t)
	h.Start(sdktest.Module{Name: "S", Role: "ssh", IP: host, Port: n, Settings: tset{Transport: "ssh", Password: "secret"}})
	h.WaitStatus("connected", true)
	var got string
	if r := h.Exec("request", "show version\n"); r.Decode(&got) != nil || got != "> show version" {
		t.Fatalf("ssh: %s", r)
	}
}

// sshServer runs a shell that answers every line with "> line".
func sshServer(t *testing.T, password string) string {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		if string(pw) != password {
			return nil, errors.New("wrong password")
		}
		return nil, nil
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(nc, cfg)
		}
	}()
	return ln.Addr().String()
}

func serveSSH(nc net.Conn, cfg *ssh.ServerConfig) {
	defer nc.Close()
	_, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			_ = nch.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, in, err := nch.Accept()
		if err != nil {
			return
		}
		go func() {
			for r := range in {
				_ = r.Reply(r.Type == "shell" || r.Type == "pty-req", nil)
			}
		}()
		go func() {
			defer ch.Close()
			sc := bufio.NewScanner(ch)
			for sc.Scan() {
				_, _ = ch.Write([]byte("> " + sc.Text() + "\n"))
			}
		}()
	}
}
