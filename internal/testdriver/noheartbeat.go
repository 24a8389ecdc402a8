package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// serveWithoutHeartbeat serves d the way a driver built before Heartbeat existed does: every call
// but Heartbeat, which its gRPC server answers Unimplemented (TESTDRIVER_NO_HEARTBEAT=1).
func serveWithoutHeartbeat(d *driver, logger hclog.Logger) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: plugin.Handshake,
		Plugins:         goplugin.PluginSet{plugin.Name: &oldPlugin{d: d}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(plugin.ServerOptions(opts)...)
		},
		Logger: logger,
	})
}

type oldPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	d *driver
}

func (p *oldPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterDriverServer(s, &oldServer{d: p.d, broker: b})
	return nil
}

func (p *oldPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("testdriver: driver side only")
}

type oldServer struct {
	proto.UnimplementedDriverServer // Heartbeat among them
	d                               *driver
	broker                          *goplugin.GRPCBroker
}

func (s *oldServer) Init(_ context.Context, r *proto.InitRequest) (*proto.Empty, error) {
	conn, err := s.broker.DialWithOptions(r.HostBrokerId, plugin.DialOptions()...)
	if err != nil {
		return nil, err
	}
	s.d.Connect(proto.NewHostClient(conn))
	return &proto.Empty{}, nil
}

func (s *oldServer) Start(ctx context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	return s.d.Start(ctx, r)
}
func (s *oldServer) Update(ctx context.Context, r *proto.StartRequest) (*proto.Empty, error) {
	return s.d.Update(ctx, r)
}
func (s *oldServer) Stop(ctx context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	return s.d.Stop(ctx, r)
}
func (s *oldServer) Exec(ctx context.Context, r *proto.ExecRequest) (*proto.ExecResponse, error) {
	return s.d.Exec(ctx, r)
}
func (s *oldServer) Debug(ctx context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	return s.d.Debug(ctx, r)
}
func (s *oldServer) Ignore(ctx context.Context, r *proto.ModuleRequest) (*proto.Empty, error) {
	return s.d.Ignore(ctx, r)
}
func (s *oldServer) Metadata(ctx context.Context, r *proto.Empty) (*proto.MetadataResponse, error) {
	return s.d.Metadata(ctx, r)
}
func (s *oldServer) Info(ctx context.Context, r *proto.Empty) (*proto.InfoResponse, error) {
	return s.d.Info(ctx, r)
}
func (s *oldServer) Terminate(ctx context.Context, r *proto.Empty) (*proto.Empty, error) {
	return s.d.Terminate(ctx, r)
}
