package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/placeos-go/engine/plugin/proto"
)

// ProtocolVersion is bumped on any incompatible change to proto/driver.proto.
const ProtocolVersion = 1

// Name is the single plugin a driver binary serves.
const Name = "driver"

// MaxMessageSize bounds every gRPC message in both directions (arguments, results, metadata).
// gRPC's default of 4 MiB is too small for a driver returning a file or a large status.
const MaxMessageSize = 64 << 20

// MaxHostMessageSize bounds what a driver sends the host's callback service: a status (at most
// 1 MiB), a setting, a log line, or a driver-to-driver call's arguments (a client's execute body
// is at most 8 MiB). The host reads and decodes a message whole before it can refuse it, so a
// driver sending many 64 MiB messages at once would make the engine hold them all.
const MaxHostMessageSize = 16 << 20

// Handshake is shared by the host and every driver binary. The cookie stops a driver binary that
// is run by hand from waiting for a host that will never come.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "ENGINE_DRIVER_PLUGIN",
	MagicCookieValue: "9b6f0a5e-placeos-go-engine-driver",
}

// ErrNotConnected is returned by the host client before Init has completed.
var ErrNotConnected = errors.New("plugin: driver not connected")

// Driver is what a driver process implements (the SDK does it for authors). Connect is called once
// with the host's callback client before the host calls anything else.
type Driver interface {
	Connect(host proto.HostClient)
	Start(context.Context, *proto.StartRequest) (*proto.Empty, error)
	Update(context.Context, *proto.StartRequest) (*proto.Empty, error)
	Stop(context.Context, *proto.ModuleRequest) (*proto.Empty, error)
	Exec(context.Context, *proto.ExecRequest) (*proto.ExecResponse, error)
	Debug(context.Context, *proto.ModuleRequest) (*proto.Empty, error)
	Ignore(context.Context, *proto.ModuleRequest) (*proto.Empty, error)
	Metadata(context.Context, *proto.Empty) (*proto.MetadataResponse, error)
	Info(context.Context, *proto.Empty) (*proto.InfoResponse, error)
	Terminate(context.Context, *proto.Empty) (*proto.Empty, error)
}

// ServerOptions are the gRPC options of every server on either side of the wire.
func ServerOptions(opts []grpc.ServerOption) []grpc.ServerOption {
	return append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
}

// DialOptions are the gRPC options of every client on either side of the wire.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize))}
}

// DriverPlugin is the go-plugin glue. A driver process sets Impl; the host sets Host.
type DriverPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	Impl Driver           // driver side
	Host proto.HostServer // host side: served on the broker for this process

	fence *fence // driver side, set by Serve: nil never fences (a driver in the host's process)
}

// GRPCServer runs in the driver process.
func (p *DriverPlugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("plugin: DriverPlugin.Impl is nil")
	}
	proto.RegisterDriverServer(s, &driverServer{impl: p.Impl, dial: func(id uint32) (*grpc.ClientConn, error) {
		return broker.DialWithOptions(id, DialOptions()...)
	}, fence: p.fence})
	return nil
}

// RegisterInProcess registers impl as the Driver service on s for a driver that runs inside the
// host's own process (package sdktest), where no go-plugin broker exists: Init connects impl to
// the Host service at host, whatever broker id it names. The calls cross gRPC as they do between
// processes; only go-plugin's process management, broker and stdio forwarding (and their logs)
// are left out.
func RegisterInProcess(s *grpc.Server, impl Driver, host *grpc.ClientConn) {
	proto.RegisterDriverServer(s, &driverServer{impl: impl, dial: func(uint32) (*grpc.ClientConn, error) { return host, nil }})
}

// NewClient is the host's handle on a driver served with RegisterInProcess at conn.
func NewClient(conn *grpc.ClientConn) *Client {
	return newClient(proto.NewDriverClient(conn), 0)
}

// GRPCClient runs in the host: it serves the Host service on the broker and returns the client.
// The driver learns the broker id through Init, which the host calls in Client.Init.
func (p *DriverPlugin) GRPCClient(ctx context.Context, broker *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	if p.Host == nil {
		return nil, errors.New("plugin: DriverPlugin.Host is nil")
	}
	id := broker.NextId()
	go broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		// The later option wins: the host takes less than a driver does.
		s := grpc.NewServer(append(ServerOptions(opts), grpc.MaxRecvMsgSize(MaxHostMessageSize))...)
		proto.RegisterHostServer(s, p.Host)
		return s
	})
	return newClient(proto.NewDriverClient(conn), id), nil
}

// Client is the host's handle on one driver process.
type Client struct {
	proto.DriverClient
	brokerID uint32
	execs    *execs // nil: the driver has no Execs stream, each Exec is a unary call
}

func newClient(dc proto.DriverClient, brokerID uint32) *Client {
	return &Client{DriverClient: dc, brokerID: brokerID, execs: newExecs(dc)}
}

// Init tells the driver where the Host service is, and opens the Execs stream; call it once
// right after Dispense.
func (c *Client) Init(ctx context.Context) error {
	if _, err := c.DriverClient.Init(ctx, &proto.InitRequest{HostBrokerId: c.brokerID}); err != nil {
		return err
	}
	_, err := c.execs.stream(ctx)
	if errors.Is(err, errNotServed) {
		c.execs = nil
		return nil
	}
	return err
}

type driverServer struct {
	proto.UnimplementedDriverServer
	impl  Driver
	dial  func(brokerID uint32) (*grpc.ClientConn, error) // the host's callback service
	fence *fence

	once sync.Once
	err  error
}

func (s *driverServer) Init(_ context.Context, req *proto.InitRequest) (*proto.Empty, error) {
	s.once.Do(func() {
		conn, err := s.dial(req.HostBrokerId)
		if err != nil {
			s.err = fmt.Errorf("plugin: dial host callback service: %w", err)
			return
		}
		s.impl.Connect(proto.NewHostClient(conn))
	})
	return &proto.Empty{}, s.err
}

func (s *driverServer) Start(ctx context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	return s.impl.Start(ctx, r)
}
func (s *driverServer) Update(ctx context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	return s.impl.Update(ctx, r)
}
func (s *driverServer) Stop(ctx context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	return s.impl.Stop(ctx, r)
}
func (s *driverServer) Exec(ctx context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	ctx, stop := withDeadline(ctx, r)
	defer stop()
	return s.impl.Exec(ctx, r)
}
func (s *driverServer) Debug(ctx context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	return s.impl.Debug(ctx, r)
}
func (s *driverServer) Ignore(ctx context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	return s.impl.Ignore(ctx, r)
}
func (s *driverServer) Metadata(ctx context.Context, r *proto.Empty) (*proto.MetadataResponse, error) {
	return s.impl.Metadata(ctx, r)
}
func (s *driverServer) Info(ctx context.Context, r *proto.Empty) (*proto.InfoResponse, error) {
	return s.impl.Info(ctx, r)
}
func (s *driverServer) Terminate(ctx context.Context, r *proto.Empty) (*proto.Empty, error) {
	return s.impl.Terminate(ctx, r)
}

// Heartbeat restarts the fence watchdog (fence.go). It is answered by the plugin layer, not the
// Driver: no driver code, and no lock of it, lies between the host and the answer.
func (s *driverServer) Heartbeat(_ context.Context, r *proto.HeartbeatRequest) (*proto.Empty, error) {
	if s.fence != nil {
		s.fence.beat(time.Duration(r.GetFenceMs()) * time.Millisecond)
	}
	return &proto.Empty{}, nil
}

// Serve runs a driver process until the host stops it or goes away (Exit ends it earlier).
// go-plugin owns stdout for its handshake, so a driver must never write to stdout itself; logger
// should write to stderr, where go-plugin lifts the lines into the host's log.
func Serve(impl Driver, logger hclog.Logger) {
	makeSocketDir(logger)
	defer removeSocketDir()
	go exitWithParent(logger)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{Name: &DriverPlugin{Impl: impl, fence: &fence{impl: impl, log: logger, exit: Exit}}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(ServerOptions(opts)...)
		},
		Logger: logger,
	})
}

// exitWithParent ends the process once the host that launched it is gone (the process was
// re-parented), so a host killed with SIGKILL leaves no driver behind for long.
func exitWithParent(logger hclog.Logger) {
	parent := os.Getppid()
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != parent {
			logger.Error("host process is gone, exiting", "parent_pid", parent)
			Exit(3)
		}
	}
}
