package core

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/plugin/proto"
)

// Driver channels (Publish, Monitor) are Redis channels under ChannelPrefix, as PlaceOS names
// them: a driver names "presence" and the engine uses "placeos/presence". So a driver reaches
// only other drivers' channels, never the engine's own (status/<module>/<name>, which clients
// are bound to; engine/system; lookup-change; engine/interface-change), which it could otherwise
// forge.
const ChannelPrefix = "placeos/"

// MaxChannelMessage bounds one message a driver publishes: a channel carries events between
// drivers (a presence change, a booking), not bulk data, and every subscriber on every node
// holds a copy while it is delivered.
const MaxChannelMessage = 64 << 10

// Publish sends a message of the calling module on a driver channel. Each publish counts as a
// driver-to-driver call against the driver's call rate (Limits.CallRate): it reaches other
// drivers as a call does.
func (h *Host) Publish(ctx context.Context, req *proto.PublishRequest) (*proto.Empty, error) {
	if err := checkChannel(req.FromModule, req.Channel); err != nil {
		return nil, err
	}
	if len(req.Message) > MaxChannelMessage {
		return nil, status.Errorf(codes.InvalidArgument, "a message on channel %q of module %q is %d bytes, more than the %d a driver may publish",
			req.Channel, req.FromModule, len(req.Message), MaxChannelMessage)
	}
	if err := h.c.takeCall(req.FromModule); err != nil {
		return nil, err
	}
	// Bounded as a status write is: a Redis that does not answer must not hold the driver.
	ctx, cancel := context.WithTimeout(ctx, statusWriteTimeout)
	defer cancel()
	if err := h.c.cfg.State.Publish(ctx, ChannelPrefix+req.Channel, req.Message); err != nil {
		return nil, status.Errorf(codes.Unavailable, "publish on channel %q: %v", req.Channel, err)
	}
	return &proto.Empty{}, nil
}

// checkChannel refuses a channel name a driver may not use: empty, or not an identifier as
// call.CheckIdentifier has them (each name is a Redis channel, and a subscription for Monitor).
func checkChannel(module, name string) error {
	err := call.CheckIdentifier("a channel name", name)
	if err == nil && name == "" {
		return status.Errorf(codes.InvalidArgument, "module %q: a channel name must not be empty", module)
	}
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "module %q: %v", module, err)
	}
	return nil
}
