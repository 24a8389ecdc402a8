package plugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// fakeDriver records every call it gets and echoes Exec arguments back.
type fakeDriver struct {
	mu    sync.Mutex
	host  proto.HostClient
	calls []string
	last  map[string]gproto.Message
	// waited is what the context of the last "wait" call said.
	waited waited
	// grpcDeadline is whether the last Exec (or Execs stream) arrived with a gRPC deadline
	// (grpc-timeout).
	grpcDeadline bool
	// unary counts the Execs that arrived as unary calls, not on the Execs stream.
	unary int
	// kept is the context of the last "keep" call.
	kept context.Context
	// streams counts the Execs streams the host opened.
	streams int
	// gate, for a frozen driver, is closed to end its first Execs stream.
	gate chan struct{}
	// onSend, when set, runs before the driver sends each message on its Execs stream, and
	// onRecv before it reads the next one, with the one it read before (nil at first): that one
	// has been handled (drivers of kind current and nopieces).
	onSend func(*proto.ExecResult)
	onRecv func(handled *proto.ExecCall)
	// arrived is every message the host received on its Execs streams, in order.
	arrived []arrival
}

// arrival is a message the host received on its Execs stream.
type arrival struct {
	id         uint64
	resultSize uint64 // the first piece of an answer in pieces
	piece      int    // the bytes of a later piece
	whole      int    // the bytes of the result of an answer sent whole
}

type waited struct {
	deadline     time.Time
	hasDeadline  bool
	err          error
	derivedErr   error // of a context the driver derived from the call's (as the SDK does)
	grpcDeadline bool
}

func (d *fakeDriver) record(name string, m gproto.Message) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, name)
	d.last[name] = m
}

func (d *fakeDriver) lastCall(name string) gproto.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last[name]
}

func (d *fakeDriver) hostClient() proto.HostClient {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.host
}

func (d *fakeDriver) Connect(h proto.HostClient) { d.mu.Lock(); d.host = h; d.mu.Unlock() }
func (d *fakeDriver) Start(_ context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	d.record("Start", r)
	return &proto.Empty{}, nil
}
func (d *fakeDriver) Update(_ context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	d.record("Update", r)
	return &proto.Empty{}, nil
}
func (d *fakeDriver) Stop(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.record("Stop", r)
	return &proto.Empty{}, nil
}
func (d *fakeDriver) Exec(ctx context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	d.record("Exec", r)
	switch r.Function {
	case "fail":
		return nil, errors.New("driver transport failure")
	case "keep": // returns at once, keeping the call's context
		d.mu.Lock()
		d.kept = ctx
		d.mu.Unlock()
		return &proto.ExecResponse{Code: 200}, nil
	case "size": // a result of n bytes (its arguments: [n]), patterned
		var n []int
		if err := json.Unmarshal(r.ArgsJson, &n); err != nil || len(n) != 1 {
			return nil, fmt.Errorf("size: arguments %s", r.ArgsJson)
		}
		return &proto.ExecResponse{ResultJson: patterned()[:n[0]], Code: 200}, nil
	case "huge": // an answer over the message limit
		return &proto.ExecResponse{ResultJson: bytes.Repeat([]byte("x"), plugin.MaxMessageSize+1), Code: 200}, nil
	case "slow": // echoes after 200 ms
		time.Sleep(200 * time.Millisecond)
		return &proto.ExecResponse{ResultJson: r.ArgsJson, Code: 200}, nil
	case "wait": // until the host gives up; tells what the call's context said, and one derived from it
		derived, cancel := context.WithCancel(ctx)
		defer cancel()
		dl, ok := ctx.Deadline()
		<-derived.Done()
		d.mu.Lock()
		d.waited = waited{deadline: dl, hasDeadline: ok, err: ctx.Err(), derivedErr: derived.Err(), grpcDeadline: d.grpcDeadline}
		d.mu.Unlock()
		return &proto.ExecResponse{Code: 200}, nil
	}
	return &proto.ExecResponse{ResultJson: r.ArgsJson, Code: 200}, nil
}
func (d *fakeDriver) Debug(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.record("Debug", r)
	return &proto.Empty{}, nil
}
func (d *fakeDriver) Ignore(_ context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	d.record("Ignore", r)
	return &proto.Empty{}, nil
}
func (d *fakeDriver) Metadata(_ context.Context, r *proto.Empty) (*proto.MetadataResponse, error) {
	d.record("Metadata", r)
	return &proto.MetadataResponse{Json: []byte(`{"functions":{}}`)}, nil
}
func (d *fakeDriver) Info(_ context.Context, r *proto.Empty) (*proto.InfoResponse, error) {
	d.record("Info", r)
	return &proto.InfoResponse{ModuleIds: []string{"mod-1"}}, nil
}
func (d *fakeDriver) Terminate(_ context.Context, r *proto.Empty) (*proto.Empty, error) {
	d.record("Terminate", r)
	return &proto.Empty{}, nil
}

// fakeHost records every callback.
type fakeHost struct {
	proto.UnimplementedHostServer
	mu   sync.Mutex
	last map[string]gproto.Message
}

func (h *fakeHost) record(name string, m gproto.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last[name] = m
}

func (h *fakeHost) lastCall(name string) gproto.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last[name]
}

func (h *fakeHost) SetStatus(_ context.Context, r *proto.SetStatusRequest) (*proto.Empty, error) {
	h.record("SetStatus", r)
	return &proto.Empty{}, nil
}
func (h *fakeHost) GetStatus(_ context.Context, r *proto.GetStatusRequest) (*proto.GetStatusResponse, error) {
	h.record("GetStatus", r)
	return &proto.GetStatusResponse{ValueJson: []byte(`"on"`), Found: true}, nil
}
func (h *fakeHost) Log(_ context.Context, r *proto.LogRequest) (*proto.Empty, error) {
	h.record("Log", r)
	return &proto.Empty{}, nil
}
func (h *fakeHost) Exec(_ context.Context, r *proto.HostExecRequest) (*proto.ExecResponse, error) {
	h.record("Exec", r)
	return &proto.ExecResponse{ResultJson: r.ArgsJson, Code: 200}, nil
}
func (h *fakeHost) Subscribe(r *proto.SubscribeRequest, s proto.Host_SubscribeServer) error {
	h.record("Subscribe", r)
	for _, v := range []string{`1`, `2`, `null`} {
		if err := s.Send(&proto.StatusValue{ValueJson: []byte(v)}); err != nil {
			return err
		}
	}
	return nil
}
func (h *fakeHost) Publish(_ context.Context, r *proto.PublishRequest) (*proto.Empty, error) {
	h.record("Publish", r)
	return &proto.Empty{}, nil
}
func (h *fakeHost) Monitor(r *proto.MonitorRequest, s proto.Host_MonitorServer) error {
	h.record("Monitor", r)
	return s.Send(&proto.ChannelMessage{Message: []byte("msg-1")})
}
func (h *fakeHost) SaveSetting(_ context.Context, r *proto.SaveSettingRequest) (*proto.Empty, error) {
	h.record("SaveSetting", r)
	return &proto.Empty{}, nil
}

// connect serves drv in-process exactly as plugin.Serve does and attaches a host client to it,
// so the real plugin set, gRPC options, broker and Init handshake are under test.
func connect(t *testing.T) (*plugin.Client, *fakeDriver, *fakeHost) {
	t.Helper()
	return connectDriver(t, current)
}

// driverKind is how connectDriver's driver serves the Execs stream.
type driverKind int

const (
	current  driverKind = iota
	old                 // answers it Unimplemented, as a driver built before it does
	deaf                // opens it and never reads it, as a frozen process
	frozen              // its first stream ends once d.gate is closed, and later ones are never answered
	rogue               // answers as no driver should: rogueExecs
	late                // each request on its Execs stream reaches the driver's code 50 ms late: lateStream
	nopieces            // never told the host takes pieces, as a driver built before them (which ignores it)
)

// hookedStream runs the driver's onSend and onRecv around its Execs stream's messages.
type hookedStream struct {
	grpc.ServerStream
	drv  *fakeDriver
	last *proto.ExecCall // read by the one goroutine that reads the stream
}

func (h *hookedStream) SendMsg(m any) error {
	h.drv.mu.Lock()
	hook := h.drv.onSend
	h.drv.mu.Unlock()
	if r, ok := m.(*proto.ExecResult); ok && hook != nil {
		hook(r)
	}
	return h.ServerStream.SendMsg(m)
}

func (h *hookedStream) RecvMsg(m any) error {
	h.drv.mu.Lock()
	hook := h.drv.onRecv
	h.drv.mu.Unlock()
	if hook != nil {
		hook(h.last)
	}
	err := h.ServerStream.RecvMsg(m)
	h.last, _ = m.(*proto.ExecCall)
	return err
}

// deafToPieces is a stream whose context does not carry the host's ask for pieces.
type deafToPieces struct{ grpc.ServerStream }

func (d deafToPieces) Context() context.Context {
	ctx := d.ServerStream.Context()
	md, _ := grpcmd.FromIncomingContext(ctx)
	md = md.Copy()
	md.Delete("engine-exec-pieces")
	return grpcmd.NewIncomingContext(ctx, md)
}

// arrivals records the messages the host receives on its Execs stream in drv.arrived.
type arrivals struct {
	grpc.ClientStream
	drv *fakeDriver
}

func (a arrivals) RecvMsg(m any) error {
	err := a.ClientStream.RecvMsg(m)
	if r, ok := m.(*proto.ExecResult); ok && err == nil {
		a.drv.mu.Lock()
		a.drv.arrived = append(a.drv.arrived, arrival{id: r.Id, resultSize: r.ResultSize, piece: len(r.Piece), whole: len(r.GetResponse().GetResultJson())})
		a.drv.mu.Unlock()
	}
	return err
}

// lateStream hands each request on to the driver 50 ms after it arrived, and a cancellation at
// once: the transit of a request on a loaded machine, its cancellation's quicker.
type lateStream struct{ grpc.ServerStream }

func (l lateStream) RecvMsg(m any) error {
	err := l.ServerStream.RecvMsg(m)
	if c, ok := m.(*proto.ExecCall); ok && err == nil && c.Request != nil {
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// rogueExecs answers each call on an Execs stream with an answer to an id never asked first,
// then its echo, then a second answer to it; "empty" with neither a response nor a status;
// "close" ends the stream; "pieces_…" answer in pieces that make no answer.
func rogueExecs(ss grpc.ServerStream) error {
	if err := ss.SendHeader(nil); err != nil {
		return err
	}
	for {
		c := new(proto.ExecCall)
		if err := ss.RecvMsg(c); err != nil {
			return nil
		}
		if c.Request == nil {
			continue
		}
		var answers []*proto.ExecResult
		switch c.Request.Function {
		case "close":
			return nil
		case "empty":
			answers = []*proto.ExecResult{{Id: c.Id}}
		case "pieces_over": // an answer in pieces that announces a result over the limit
			answers = []*proto.ExecResult{
				{Id: c.Id, ResultSize: plugin.MaxMessageSize + 1, Response: &proto.ExecResponse{ResultJson: []byte(`"xxxxx`), Code: 200}},
				{Id: c.Id, Piece: []byte(`xxxxx`)},
			}
		case "pieces_long": // pieces that come to more than the result they announced
			answers = []*proto.ExecResult{
				{Id: c.Id, ResultSize: 10, Response: &proto.ExecResponse{ResultJson: []byte(`"xxxxx`), Code: 200}},
				{Id: c.Id, Piece: []byte(`xxxxx"`)},
				{Id: c.Id, Piece: []byte(`xxxxx"`)},
			}
		case "pieces_whole": // the first piece of an answer, then the answer whole
			answers = []*proto.ExecResult{
				{Id: c.Id, ResultSize: 10, Response: &proto.ExecResponse{ResultJson: []byte(`"xxxxx`), Code: 200}},
				{Id: c.Id, Response: &proto.ExecResponse{ResultJson: []byte(`"whole"`), Code: 200}},
			}
		case "pieces_announce": // the first piece of an answer at the limit, and no more
			answers = []*proto.ExecResult{
				{Id: c.Id, ResultSize: plugin.MaxMessageSize - 64, Response: &proto.ExecResponse{ResultJson: []byte(`"xxxxx`), Code: 200}},
			}
		case "pieces_most": // an answer at the limit, every piece of it but its last byte
			size := plugin.MaxMessageSize - 64
			piece := patterned()[:plugin.PieceSize]
			answers = []*proto.ExecResult{{Id: c.Id, ResultSize: uint64(size), Response: &proto.ExecResponse{ResultJson: piece, Code: 200}}}
			for off := plugin.PieceSize; off < size-1; off += plugin.PieceSize {
				answers = append(answers, &proto.ExecResult{Id: c.Id, Piece: piece[:min(plugin.PieceSize, size-1-off)]})
			}
		case "pieces_cut": // the first piece of an answer, then the stream's end
			if err := ss.SendMsg(&proto.ExecResult{Id: c.Id, ResultSize: 4 * plugin.PieceSize,
				Response: &proto.ExecResponse{ResultJson: patterned()[:plugin.PieceSize], Code: 200}}); err != nil {
				return nil
			}
			return nil
		default:
			answers = []*proto.ExecResult{
				{Id: c.Id + 1<<40, Response: &proto.ExecResponse{ResultJson: []byte(`"stranger"`), Code: 200}},
				{Id: c.Id, Response: &proto.ExecResponse{ResultJson: c.Request.ArgsJson, Code: 200}},
				{Id: c.Id, Response: &proto.ExecResponse{ResultJson: []byte(`"twice"`), Code: 200}},
			}
		}
		for _, r := range answers {
			if err := ss.SendMsg(r); err != nil {
				return nil
			}
		}
	}
}

// connectDriver is connect with a driver of kind k.
func connectDriver(t *testing.T, k driverKind) (*plugin.Client, *fakeDriver, *fakeHost) {
	t.Helper()
	drv := &fakeDriver{last: map[string]gproto.Message{}, gate: make(chan struct{})}
	host := &fakeHost{last: map[string]gproto.Message{}}
	logger := hclog.New(&hclog.LoggerOptions{Output: io.Discard})

	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *goplugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: plugin.Handshake,
		Plugins:         goplugin.PluginSet{plugin.Name: &plugin.DriverPlugin{Impl: drv}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(plugin.ServerOptions(append(opts, grpc.UnaryInterceptor(
				func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
					if strings.HasSuffix(info.FullMethod, "/Exec") {
						_, ok := ctx.Deadline()
						drv.mu.Lock()
						drv.grpcDeadline = ok
						drv.unary++
						drv.mu.Unlock()
					}
					return h(ctx, req)
				}), grpc.StreamInterceptor(
				func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
					if strings.HasSuffix(info.FullMethod, "/Execs") {
						drv.mu.Lock()
						drv.streams++
						n := drv.streams
						drv.mu.Unlock()
						if k == frozen && n > 1 {
							<-ss.Context().Done()
							return nil
						}
						switch k {
						case rogue:
							return rogueExecs(ss)
						case late:
							ss = lateStream{ss}
						case nopieces:
							ss = &hookedStream{ServerStream: deafToPieces{ss}, drv: drv}
						case old:
							return status.Error(codes.Unimplemented, "method Execs not implemented")
						case deaf, frozen:
							if err := ss.SendHeader(nil); err != nil {
								return err
							}
							select {
							case <-ss.Context().Done():
							case <-drv.gate:
							}
							return nil
						}
						if k == current {
							ss = &hookedStream{ServerStream: ss, drv: drv}
						}
						_, ok := ss.Context().Deadline()
						drv.mu.Lock()
						drv.grpcDeadline = ok
						drv.mu.Unlock()
					}
					return h(srv, ss)
				})))...)
		},
		Logger: logger,
		Test:   &goplugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	var rc *goplugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-time.After(10 * time.Second):
		t.Fatal("in-process plugin server did not start")
	}
	cfg := plugin.ClientConfig(nil, host, logger, nil)
	cfg.Cmd, cfg.Reattach = nil, rc
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, grpc.WithStreamInterceptor(
		func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			cs, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil || !strings.HasSuffix(method, "/Execs") {
				return cs, err
			}
			return arrivals{cs, drv}, nil
		}))
	client := goplugin.NewClient(cfg)
	t.Cleanup(func() {
		client.Kill()
		cancel()
		<-closed
	})
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	dc, err := plugin.Connect(cctx, client)
	if err != nil {
		t.Fatal(err)
	}
	if drv.hostClient() == nil {
		t.Fatal("Init did not hand the driver a host client")
	}
	return dc, drv, host
}

func TestHostToDriver(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connect(t)
	ctx := context.Background()
	mod := &proto.Module{Id: "mod-1", Name: "Display", Role: "device", Ip: "10.0.0.5", Port: 4999, SettingsJson: []byte(`{"a":1}`)}
	big := []byte(`["` + strings.Repeat("x", 5<<20) + `"]`)

	tests := []struct {
		name string
		call func() (gproto.Message, error) // returns the response
		sent gproto.Message                 // what the driver must have received
		want gproto.Message                 // the response, when it carries data
	}{
		{"Start", func() (gproto.Message, error) { return dc.Start(ctx, &proto.StartRequest{Module: mod}) },
			&proto.StartRequest{Module: mod}, nil},
		{"Update", func() (gproto.Message, error) { return dc.Update(ctx, &proto.StartRequest{Module: mod}) },
			&proto.StartRequest{Module: mod}, nil},
		{"Exec", func() (gproto.Message, error) {
			return dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "power", ArgsJson: []byte(`[true]`), UserId: "u", RequestId: "r", TimeoutMs: 5})
		}, &proto.ExecRequest{ModuleId: "mod-1", Function: "power", ArgsJson: []byte(`[true]`), UserId: "u", RequestId: "r", TimeoutMs: 5},
			&proto.ExecResponse{ResultJson: []byte(`[true]`), Code: 200}},
		{"Exec", func() (gproto.Message, error) {
			return dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: big})
		}, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: big},
			&proto.ExecResponse{ResultJson: big, Code: 200}},
		{"Debug", func() (gproto.Message, error) { return dc.Debug(ctx, &proto.ModuleRequest{ModuleId: "mod-1"}) },
			&proto.ModuleRequest{ModuleId: "mod-1"}, nil},
		{"Ignore", func() (gproto.Message, error) { return dc.Ignore(ctx, &proto.ModuleRequest{ModuleId: "mod-1"}) },
			&proto.ModuleRequest{ModuleId: "mod-1"}, nil},
		{"Metadata", func() (gproto.Message, error) { return dc.Metadata(ctx, &proto.Empty{}) },
			&proto.Empty{}, &proto.MetadataResponse{Json: []byte(`{"functions":{}}`)}},
		{"Info", func() (gproto.Message, error) { return dc.Info(ctx, &proto.Empty{}) },
			&proto.Empty{}, &proto.InfoResponse{ModuleIds: []string{"mod-1"}}},
		{"Stop", func() (gproto.Message, error) { return dc.Stop(ctx, &proto.ModuleRequest{ModuleId: "mod-1"}) },
			&proto.ModuleRequest{ModuleId: "mod-1"}, nil},
		{"Terminate", func() (gproto.Message, error) { return dc.Terminate(ctx, &proto.Empty{}) },
			&proto.Empty{}, nil},
	}
	for _, tc := range tests {
		resp, err := tc.call()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := drv.lastCall(tc.name); !gproto.Equal(got, tc.sent) {
			t.Errorf("%s: driver got %v", tc.name, summarize(got))
		}
		if tc.want != nil && !gproto.Equal(resp, tc.want) {
			t.Errorf("%s: response %v", tc.name, summarize(resp))
		}
	}
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "fail"}); err == nil ||
		!strings.Contains(err.Error(), "driver transport failure") {
		t.Errorf("a Go error from the driver: %v", err)
	}
}

// Executes travel on the Execs stream: concurrent calls each get their own answer, a cancelled
// call ends alone, and an answer or a request over the message limit fails its own call with
// ResourceExhausted while the stream (and a call in flight on it) goes on.
func TestExecsStream(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connect(t)
	ctx := context.Background()

	slow := make(chan error, 1)
	go func() {
		resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "slow", ArgsJson: []byte(`["slow"]`)})
		if err == nil && string(resp.ResultJson) != `["slow"]` {
			err = fmt.Errorf("answer %s", resp.ResultJson)
		}
		slow <- err
	}()
	wctx, wcancel := context.WithCancel(ctx)
	waited := make(chan error, 1)
	go func() {
		_, err := dc.Exec(wctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "wait", TimeoutMs: 60000})
		waited <- err
	}()

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			args := fmt.Sprintf(`[%d]`, i)
			resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(args)})
			if err != nil {
				errs <- err
			} else if string(resp.ResultJson) != args {
				errs <- fmt.Errorf("call %d answered %s", i, resp.ResultJson)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "huge"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("an answer over the limit: %v, want ResourceExhausted", err)
	}
	over := bytes.Repeat([]byte("y"), plugin.MaxMessageSize+1)
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: over}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a request over the limit: %v, want ResourceExhausted", err)
	}
	if err := <-slow; err != nil {
		t.Errorf("a call in flight while others failed: %v", err)
	}

	wcancel()
	if err := <-waited; status.Code(err) != codes.Canceled {
		t.Errorf("the cancelled call: %v, want Canceled", err)
	}
	if w := drv.lastWait(t); !errors.Is(w.err, context.Canceled) {
		t.Errorf("the driver's context of the cancelled call ended with %v, want Canceled", w.err)
	}
	if resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[1]`)}); err != nil || string(resp.ResultJson) != `[1]` {
		t.Errorf("a call after all that: %v %v", resp, err)
	}
	drv.mu.Lock()
	defer drv.mu.Unlock()
	if drv.unary != 0 {
		t.Errorf("%d calls arrived as unary Execs, want all on the stream", drv.unary)
	}
}

// A driver without the Execs stream (built before it) gets each execute as a unary Exec.
func TestExecsUnaryForAnOlderDriver(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connectDriver(t, old)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		args := fmt.Sprintf(`[%d]`, i)
		resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(args)})
		if err != nil || string(resp.ResultJson) != args {
			t.Fatalf("call %d: %v %v", i, resp, err)
		}
	}
	drv.mu.Lock()
	defer drv.mu.Unlock()
	if drv.unary != 3 {
		t.Fatalf("%d unary Execs, want 3", drv.unary)
	}
}

// A driver process that stops reading its Execs stream (frozen) does not hold a call past its
// deadline, however much it has left unread: gRPC's flow control would hold the sender until the
// probe killed the process. The stream ends instead, and the next call opens a new one.
func TestExecsDriverNotReading(t *testing.T) {
	t.Parallel()
	dc, _, _ := connectDriver(t, deaf)
	big := []byte(`["` + strings.Repeat("x", 1<<20) + `"]`)
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		_, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: big})
		took := time.Since(start)
		cancel()
		if err == nil {
			t.Fatalf("call %d answered by a driver that does not read", i)
		}
		if took > 5*time.Second {
			t.Fatalf("call %d (200 ms deadline) returned after %v: %v", i, took, err)
		}
		if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Unavailable {
			t.Fatalf("call %d: %v, want DeadlineExceeded or Unavailable", i, err)
		}
	}
}

// The host's callback service takes at most MaxHostMessageSize from a driver; a larger message is
// refused by gRPC before the host's code runs.
func TestHostMessageBound(t *testing.T) {
	t.Parallel()
	_, drv, host := connect(t)
	hc := drv.hostClient()
	ctx := context.Background()
	fits := bytes.Repeat([]byte("y"), plugin.MaxHostMessageSize-1024)
	if _, err := hc.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: "mod-1", Name: "fits", ValueJson: fits}); err != nil {
		t.Fatalf("a status just under the bound: %v", err)
	}
	over := bytes.Repeat([]byte("y"), plugin.MaxHostMessageSize+1)
	_, err := hc.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: "mod-1", Name: "over", ValueJson: over})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a status over the bound: %v, want ResourceExhausted", err)
	}
	host.mu.Lock()
	defer host.mu.Unlock()
	if req, _ := host.last["SetStatus"].(*proto.SetStatusRequest); req == nil || req.Name != "fits" {
		t.Fatalf("the host saw %v last, want the status that fits", req)
	}
}

func TestDriverToHost(t *testing.T) {
	t.Parallel()
	_, drv, host := connect(t)
	hc := drv.hostClient()
	ctx := context.Background()
	target := &proto.Target{SystemId: "sys-1", Name: "Display", Index: 2}
	big := bytes.Repeat([]byte("y"), 5<<20)

	unary := []struct {
		name string
		call func() (gproto.Message, error)
		sent gproto.Message
		want gproto.Message
	}{
		{"SetStatus", func() (gproto.Message, error) {
			return hc.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: "mod-1", Name: "power", ValueJson: []byte(`true`)})
		}, &proto.SetStatusRequest{ModuleId: "mod-1", Name: "power", ValueJson: []byte(`true`)}, nil},
		{"SetStatus", func() (gproto.Message, error) {
			return hc.SetStatus(ctx, &proto.SetStatusRequest{ModuleId: "mod-1", Name: "blob", ValueJson: big})
		}, &proto.SetStatusRequest{ModuleId: "mod-1", Name: "blob", ValueJson: big}, nil},
		{"GetStatus", func() (gproto.Message, error) {
			return hc.GetStatus(ctx, &proto.GetStatusRequest{FromModule: "mod-1", Target: target, Name: "power"})
		}, &proto.GetStatusRequest{FromModule: "mod-1", Target: target, Name: "power"},
			&proto.GetStatusResponse{ValueJson: []byte(`"on"`), Found: true}},
		{"Log", func() (gproto.Message, error) {
			return hc.Log(ctx, &proto.LogRequest{ModuleId: "mod-1", Level: "info", Message: "hello"})
		}, &proto.LogRequest{ModuleId: "mod-1", Level: "info", Message: "hello"}, nil},
		{"Exec", func() (gproto.Message, error) {
			return hc.Exec(ctx, &proto.HostExecRequest{FromModule: "mod-1", Target: target, Function: "power", ArgsJson: []byte(`{"state":true}`), UserId: "u"})
		}, &proto.HostExecRequest{FromModule: "mod-1", Target: target, Function: "power", ArgsJson: []byte(`{"state":true}`), UserId: "u"},
			&proto.ExecResponse{ResultJson: []byte(`{"state":true}`), Code: 200}},
		{"Publish", func() (gproto.Message, error) {
			return hc.Publish(ctx, &proto.PublishRequest{FromModule: "mod-1", Channel: "c", Message: []byte("m")})
		}, &proto.PublishRequest{FromModule: "mod-1", Channel: "c", Message: []byte("m")}, nil},
		{"SaveSetting", func() (gproto.Message, error) {
			return hc.SaveSetting(ctx, &proto.SaveSettingRequest{ModuleId: "mod-1", Name: "n", ValueJson: []byte(`5`)})
		}, &proto.SaveSettingRequest{ModuleId: "mod-1", Name: "n", ValueJson: []byte(`5`)}, nil},
	}
	for _, tc := range unary {
		resp, err := tc.call()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := host.lastCall(tc.name); !gproto.Equal(got, tc.sent) {
			t.Errorf("%s: host got %v", tc.name, summarize(got))
		}
		if tc.want != nil && !gproto.Equal(resp, tc.want) {
			t.Errorf("%s: response %v", tc.name, summarize(resp))
		}
	}

	sub, err := hc.Subscribe(ctx, &proto.SubscribeRequest{FromModule: "mod-1", Target: target, Name: "power"})
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for {
		v, err := sub.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		values = append(values, string(v.ValueJson))
	}
	if strings.Join(values, ",") != "1,2,null" {
		t.Errorf("Subscribe values = %v", values)
	}
	if !gproto.Equal(host.lastCall("Subscribe"), &proto.SubscribeRequest{FromModule: "mod-1", Target: target, Name: "power"}) {
		t.Errorf("Subscribe request = %v", host.lastCall("Subscribe"))
	}

	mon, err := hc.Monitor(ctx, &proto.MonitorRequest{FromModule: "mod-1", Channel: "c"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mon.Recv()
	if err != nil || string(msg.Message) != "msg-1" {
		t.Errorf("Monitor = %v, %v", msg, err)
	}
}

// summarize keeps a 5 MiB message out of the test output.
func summarize(m gproto.Message) string {
	s := ""
	if m != nil {
		s = m.(interface{ String() string }).String()
	}
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// TestExecDeadline: the host's deadline reaches the driver as timeout_ms, not as a gRPC
// deadline (which would start a timer in the driver for every call); the driver's context still
// reports it, and ends, as timed out, when the host gives up at it.
func TestExecDeadline(t *testing.T) {
	dc, drv, _ := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	_, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "wait"})
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("host: %v, want DeadlineExceeded", err)
	}
	if got := drv.lastCall("Exec").(*proto.ExecRequest); got.TimeoutMs < 200 || got.TimeoutMs > 300 {
		t.Errorf("timeout_ms %d, want the 300 ms left", got.TimeoutMs)
	}
	w := drv.lastWait(t)
	if w.grpcDeadline {
		t.Error("the Exec arrived with a gRPC deadline")
	}
	if !w.hasDeadline || w.deadline.UnixNano() != dl.UnixNano() {
		t.Errorf("driver's deadline %v (set: %v), want the host's %v", w.deadline, w.hasDeadline, dl)
	}
	if !errors.Is(w.err, context.DeadlineExceeded) || !errors.Is(w.derivedErr, context.DeadlineExceeded) {
		t.Errorf("driver's context ended with %v, one derived from it with %v; want context.DeadlineExceeded",
			w.err, w.derivedErr)
	}

	// Without a deadline the caller's timeout_ms is passed on as it is, and a cancellation still
	// ends the driver's call (as Canceled: the deadline it reports has not passed).
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	_, err = dc.Exec(ctx2, &proto.ExecRequest{ModuleId: "mod-1", Function: "wait", TimeoutMs: 60000})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("host: %v, want Canceled", err)
	}
	if got := drv.lastCall("Exec").(*proto.ExecRequest); got.TimeoutMs != 60000 {
		t.Errorf("timeout_ms %d, want the caller's 60000", got.TimeoutMs)
	}
	if w := drv.lastWait(t); !errors.Is(w.err, context.Canceled) || !errors.Is(w.derivedErr, context.Canceled) || !w.hasDeadline {
		t.Errorf("driver's context: %+v, want Canceled with a deadline a minute away", w)
	}
}

// lastWait returns what the context of the last "wait" call said once it ended (the host's
// answer can come a moment before the driver's handler has seen its context end), and clears it.
func (d *fakeDriver) lastWait(t *testing.T) waited {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d.mu.Lock()
		w := d.waited
		if w.err != nil {
			d.waited = waited{}
			d.mu.Unlock()
			return w
		}
		d.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the driver's call context did not end")
		}
	}
}

// A call's context ends when the call returns, also when it carried a deadline: what a driver
// left waiting on it (a goroutine it started) stops.
func TestExecContextEndsWithTheCall(t *testing.T) {
	dc, drv, _ := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "keep"}); err != nil {
		t.Fatal(err)
	}
	drv.mu.Lock()
	kept := drv.kept
	drv.mu.Unlock()
	if dl, ok := kept.Deadline(); !ok || time.Until(dl) < 50*time.Second {
		t.Fatalf("the kept context's deadline: %v %v, want a minute away", dl, ok)
	}
	select {
	case <-kept.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call's context did not end when the call returned")
	}
	if !errors.Is(kept.Err(), context.Canceled) {
		t.Fatalf("ended with %v, want context.Canceled", kept.Err())
	}
}
