package plugin

import (
	"context"
	"fmt"
	"math"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/plugin/proto"
)

// Execs is the driver's end: each call runs as a unary Exec would, in a goroutine of its own,
// with a context that ends when the host cancels the call or the stream ends.
func (s *driverServer) Execs(stream proto.Driver_ExecsServer) error {
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	d := &driverExecs{s: s, stream: stream, pieces: takesPieces(stream.Context()),
		turn: make(chan struct{}, 1), running: map[uint64]context.CancelFunc{}}
	// A call's answer is never sent after the handler has returned (gRPC forbids it): the
	// handler waits for its calls. They end with the stream's context when the host goes away
	// or drops the stream; a host that only closed its side still gets their answers.
	defer d.wg.Wait()
	for {
		c, err := stream.Recv()
		if err != nil {
			return nil
		}
		id := c.GetId()
		if c.Request == nil {
			d.mu.Lock()
			if cancel := d.running[id]; cancel != nil {
				cancel()
			}
			d.mu.Unlock()
			continue
		}
		ctx, cancel := context.WithCancel(stream.Context())
		d.mu.Lock()
		d.running[id] = cancel
		d.mu.Unlock()
		d.wg.Add(1)
		go d.run(ctx, cancel, id, c.Request)
	}
}

// driverExecs is the driver's end of one Execs stream.
type driverExecs struct {
	s      *driverServer
	stream proto.Driver_ExecsServer
	pieces bool // the host takes large answers in pieces (pieces.go)

	// turn is held by the one answer (or piece of one) being sent: gRPC allows one sender at a
	// time. A channel, not a mutex: its waiters get their turns in the order they came, so an
	// answer waits behind one piece of a large answer at most, where a mutex would let the
	// sender of the pieces take it again and again.
	turn chan struct{}

	mu      sync.Mutex
	running map[uint64]context.CancelFunc // by call id: ends the call, or the sending of its pieces
	wg      sync.WaitGroup
}

// run runs call id and sends its answer.
func (d *driverExecs) run(ctx context.Context, cancel context.CancelFunc, id uint64, req *proto.ExecRequest) {
	defer d.wg.Done()
	resp, err := d.s.Exec(ctx, req)
	r := answer(id, resp, err)
	inPieces := d.pieces && len(r.GetResponse().GetResultJson()) > PieceSize
	var sending context.Context
	d.mu.Lock()
	delete(d.running, id)
	if inPieces && ctx.Err() == nil {
		// The host's cancellation from now on stops the pieces still to send. One that came
		// before (ctx ended) means no one waits for the answer: it is not sent at all.
		var stop context.CancelFunc
		sending, stop = context.WithCancel(d.stream.Context())
		d.running[id] = stop
		defer func() {
			d.mu.Lock()
			delete(d.running, id)
			d.mu.Unlock()
			stop()
		}()
	}
	d.mu.Unlock()
	cancel()
	switch {
	case !inPieces:
		_ = d.send(r) // fails only once the stream has ended, and then no one waits
	case sending != nil:
		d.sendPieces(sending, r)
	}
}

// answer is the answer to call id of a driver's Exec that returned resp and err.
func answer(id uint64, resp *proto.ExecResponse, err error) *proto.ExecResult {
	switch {
	case err != nil:
		st := status.Convert(err)
		return &proto.ExecResult{Id: id, StatusCode: uint32(st.Code()), StatusMessage: st.Message()}
	case resp == nil:
		return &proto.ExecResult{Id: id, StatusCode: uint32(codes.Internal), StatusMessage: "the driver's Exec returned no response"}
	case nearLimit(answerBytes(resp)):
		// An answer over the limit would end the stream for every call in flight. It is
		// measured as one message with the largest call id, whether it goes whole or in
		// pieces: the same answers are refused either way, as a request is measured (execs).
		if n := gproto.Size(&proto.ExecResult{Id: math.MaxUint64, Response: resp}); n > MaxMessageSize {
			return &proto.ExecResult{Id: id, StatusCode: uint32(codes.ResourceExhausted),
				StatusMessage: fmt.Sprintf("an exec answer of %d bytes is over the %d byte limit", n, MaxMessageSize)}
		}
	}
	return &proto.ExecResult{Id: id, Response: resp}
}

// send sends r once it is its turn.
func (d *driverExecs) send(r *proto.ExecResult) error {
	d.turn <- struct{}{}
	defer func() { <-d.turn }()
	return d.stream.Send(r)
}
