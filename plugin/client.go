package plugin

import (
	"context"
	"fmt"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/placeos-go/engine/plugin/proto"
)

// ClientConfig is the go-plugin configuration for launching one driver process whose callbacks
// are served by host. secure, when set, makes go-plugin verify the binary's checksum first.
func ClientConfig(cmd *exec.Cmd, host proto.HostServer, logger hclog.Logger, secure *goplugin.SecureConfig) *goplugin.ClientConfig {
	return &goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          goplugin.PluginSet{Name: &DriverPlugin{Host: host}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           logger,
		SecureConfig:     secure,
		GRPCDialOptions:  DialOptions(),
		// The supervisor decides when a process dies; go-plugin must not kill it on its own.
		Managed: false,
	}
}

// Connect starts the process behind c (if not yet started), dispenses the driver and calls Init.
func Connect(ctx context.Context, c *goplugin.Client) (*Client, error) {
	rpc, err := c.Client()
	if err != nil {
		return nil, fmt.Errorf("plugin: start driver: %w", err)
	}
	raw, err := rpc.Dispense(Name)
	if err != nil {
		return nil, fmt.Errorf("plugin: dispense driver: %w", err)
	}
	dc, ok := raw.(*Client)
	if !ok {
		return nil, fmt.Errorf("plugin: dispensed %T, want *plugin.Client", raw)
	}
	if err := dc.Init(ctx); err != nil {
		return nil, fmt.Errorf("plugin: init driver: %w", err)
	}
	return dc, nil
}
