package plugin

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/internal/calltab"
	"github.com/placeos-go/engine/plugin/proto"
)

// The host's executes travel on one Execs stream per driver process instead of one unary Exec
// each. A unary gRPC call is a new HTTP/2 stream: headers both ways, trailers, a stream's state
// and flow-control window in both processes, a goroutine in the driver's server. On the stream a
// call is one message each way, and answers that finish together leave in one write. Measured
// with BenchmarkExecute (BENCHMARKS.md) against a bare proxy making the unary call.
//
// What a unary Exec gave, the stream keeps: a call ends at its context's end (the host sends the
// call's cancellation, and the driver's context for it ends, with DeadlineExceeded at its
// deadline); an answer over MaxMessageSize fails that call alone, with ResourceExhausted; the
// driver's connection closing fails every call on it with Unavailable. A driver built before the
// stream existed answers it Unimplemented, and its host calls Exec for each call.
//
// Answers share the stream, one message at a time, so a large answer goes in pieces of PieceSize
// (pieces.go): sent whole it held every answer behind it until it had left. A piece waits its
// turn like any answer, the driver sends the next piece in a later turn, and the host's receive
// loop gathers the pieces of a call and hands the caller the whole answer. The limit is the
// same as for an answer sent whole; a caller that gives up drops what was gathered for it, and
// the stream's end fails a call whose answer is half there like every other call on it.

// execs is the host's end: the stream in use, opened again after it breaks.
type execs struct {
	dc proto.DriverClient
	// opening is held by the one call that opens a stream, while it waits for the driver's
	// headers. The others wait for it within their own contexts: a frozen driver never sends
	// them, and a call must not wait past its deadline for another call's.
	opening chan struct{}

	mu  sync.Mutex
	cur *execStream // nil: the next call opens one
}

func newExecs(dc proto.DriverClient) *execs {
	return &execs{dc: dc, opening: make(chan struct{}, 1)}
}

// errNotServed is the driver's Unimplemented: an older driver without the Execs stream.
var errNotServed = errors.New("plugin: the driver does not serve the Execs stream")

// open opens an Execs stream and waits, within ctx, for the driver's response headers, which
// say whether it is served. Its answers are received once it is the stream in use (stream).
func (x *execs) open(ctx context.Context) (*execStream, error) {
	// The stream outlives the call that opened it; it ends with the driver's connection.
	sctx, cancel := context.WithCancel(context.Background())
	s, err := x.dc.Execs(withPieces(sctx))
	if err != nil {
		cancel()
		return nil, err
	}
	headers := make(chan error, 1)
	go func() {
		md, err := s.Header()
		if md == nil && err == nil {
			// gRPC's Header keeps a stream's end (Unimplemented) for Recv to say.
			_, err = s.Recv()
		}
		headers <- err
	}()
	select {
	case err = <-headers:
	case <-ctx.Done():
		cancel()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		cancel()
		if status.Code(err) == codes.Unimplemented {
			return nil, errNotServed
		}
		return nil, err
	}
	return &execStream{s: s, ctx: sctx, cancel: cancel, sending: make(chan struct{}, 1)}, nil
}

// stream returns the stream in use, opening one if there is none.
func (x *execs) stream(ctx context.Context) (*execStream, error) {
	if es := x.current(); es != nil {
		return es, nil
	}
	select {
	case x.opening <- struct{}{}:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	defer func() { <-x.opening }()
	if es := x.current(); es != nil { // opened while this call waited
		return es, nil
	}
	es, err := x.open(ctx)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	x.cur = es
	x.mu.Unlock()
	// Only now: a stream that ends at once is dropped after it was made the one in use.
	go es.receive(x)
	return es, nil
}

func (x *execs) current() *execStream {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cur
}

// drop forgets es once it has broken, so that the next call opens a new stream.
func (x *execs) drop(es *execStream) {
	x.mu.Lock()
	if x.cur == es {
		x.cur = nil
	}
	x.mu.Unlock()
}

// exec makes one call on the stream within ctx (req.TimeoutMs already set from its deadline).
func (x *execs) exec(ctx context.Context, req *proto.ExecRequest) (*proto.ExecResponse, error) {
	// A request over the limit would end the whole stream in gRPC's SendMsg: it fails alone,
	// as its unary call would. What gRPC measures is the ExecCall, the request and its id (the
	// largest an id can be: a few bytes at most are refused that the unary call took). Measured
	// only when its fields could come near the limit: gRPC measures every message again.
	if nearLimit(len(req.ArgsJson) + len(req.ModuleId) + len(req.Function) + len(req.UserId) + len(req.RequestId)) {
		if n := gproto.Size(&proto.ExecCall{Id: math.MaxUint64, Request: req}); n > MaxMessageSize {
			return nil, status.Errorf(codes.ResourceExhausted, "plugin: an exec request of %d bytes (with its call id) is over the %d byte limit", n, MaxMessageSize)
		}
	}
	es, err := x.stream(ctx)
	if err != nil {
		return nil, err
	}
	answer := make(chan *proto.ExecResult, 1)
	id, err := es.calls.Add(answer)
	if err != nil {
		return nil, err
	}
	if err := es.sendWithin(ctx, ctx, &proto.ExecCall{Id: id, Request: req}); err != nil {
		es.calls.Remove(id)
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Unavailable, "plugin: the driver's exec stream is closed: %v", err)
	}
	select {
	case r := <-answer:
		return r.GetResponse(), resultErr(r)
	case <-ctx.Done():
		if es.calls.Remove(id) {
			es.dropPieces(id) // what came of its answer, if it comes in pieces
			// The driver's context for the call ends as a unary call's would on RST_STREAM;
			// the sender does not wait for it.
			// It waits its turn for as long as the stream lasts, and once sending, is held
			// to the grace of a call whose context has ended.
			go func() { _ = es.sendWithin(es.ctx, ctx, &proto.ExecCall{Id: id}) }()
		}
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// resultErr is the gRPC status r carries, nil for a response.
func resultErr(r *proto.ExecResult) error {
	if r.GetStatusCode() == uint32(codes.OK) && r.Response != nil {
		return nil
	}
	if r.GetStatusCode() == uint32(codes.OK) {
		return status.Error(codes.Internal, "plugin: the driver answered an exec with neither a response nor an error")
	}
	return status.Error(codes.Code(r.GetStatusCode()), r.GetStatusMessage())
}

// execStream is one Execs stream and the calls waiting on it.
type execStream struct {
	s      proto.Driver_ExecsClient
	ctx    context.Context // ends with the stream
	cancel context.CancelFunc

	// sending is held by the one call sending (gRPC allows one sender at a time); the others
	// wait for it within their own contexts.
	sending chan struct{}

	calls calltab.Table[*proto.ExecResult] // the calls waiting for their answers

	// pieces holds the answers that come in pieces (pieces.go) while they are gathered, by call
	// id: the first piece, its result growing to its full length.
	piecesMu sync.Mutex
	pieces   map[uint64]*proto.ExecResult
	// held is the capacity of the results in pieces: at most maxGathered.
	held int
	// gathering is len(pieces), for the receive loop to look at without the lock.
	gathering atomic.Int32
}

// stuckSend is how long a call whose context has ended waits for its request to leave before
// it ends the stream.
const stuckSend = 100 * time.Millisecond

// sendWithin sends c once no other call is sending, waiting for its turn until wait ends (then
// it sends nothing, and the stream goes on), and ending by within's end plus stuckSend at the
// latest once it sends. gRPC's Send waits for flow control with the stream's context, not the
// call's: a driver that stopped reading (a frozen process, until the probe kills it) would hold
// its callers past their deadlines. A caller whose context ends while its request still waits
// to leave ends the stream instead, which fails every call on it, as the connection's loss
// would. A healthy stream takes microseconds (a request of megabytes, milliseconds) and is never
// ended by a deadline that happens to pass meanwhile; a caller that only waited for its turn
// behind such a request (which gRPC's flow control holds a moment) leaves alone at its deadline.
func (es *execStream) sendWithin(wait, within context.Context, c *proto.ExecCall) error {
	select {
	case es.sending <- struct{}{}:
	case <-wait.Done():
		return wait.Err()
	}
	defer func() { <-es.sending }()
	sent := make(chan struct{})
	stop := context.AfterFunc(within, func() {
		t := time.NewTimer(stuckSend)
		defer t.Stop()
		select {
		case <-sent:
		case <-t.C:
			es.cancel()
		}
	})
	err := es.s.Send(c)
	close(sent)
	stop()
	return err
}

// receive hands each answer to its call until the stream ends, then fails the calls left.
func (es *execStream) receive(x *execs) {
	for {
		r, err := es.s.Recv()
		if err != nil {
			es.end(x, err)
			return
		}
		if r.GetResultSize() != 0 || len(r.GetPiece()) != 0 {
			es.gather(r)
			continue
		}
		if es.gathering.Load() != 0 {
			// A driver that answers whole a call whose answer it began in pieces: nothing
			// gathered for it may stay.
			es.dropPieces(r.GetId())
		}
		if ch := es.calls.Take(r.GetId()); ch != nil { // else its caller gave up
			ch <- r
		}
	}
}

func (es *execStream) end(x *execs, err error) {
	x.drop(es)
	es.cancel()
	broken := status.Errorf(codes.Unavailable, "plugin: the driver's exec stream ended: %v", err)
	calls, _ := es.calls.End(broken, false)
	es.piecesMu.Lock()
	es.pieces = nil // the calls they were for are failed with the rest
	es.held = 0
	es.gathering.Store(0)
	es.piecesMu.Unlock()
	failed := &proto.ExecResult{StatusCode: uint32(codes.Unavailable), StatusMessage: status.Convert(broken).Message()}
	for _, ch := range calls {
		ch <- failed
	}
}

// fieldSlack bounds what a message's tags, lengths, numbers and ids add to the bytes of its text
// fields: a message whose text fields stay fieldSlack under MaxMessageSize is within it.
const fieldSlack = 64 << 10

// nearLimit reports whether a message with n bytes of text fields may be over MaxMessageSize.
func nearLimit(n int) bool { return n > MaxMessageSize-fieldSlack }

// answerBytes is the bytes of r's text fields.
func answerBytes(r *proto.ExecResponse) int {
	n := len(r.ResultJson)
	if e := r.Error; e != nil {
		n += len(e.Class) + len(e.Message)
		for _, line := range e.Backtrace {
			n += len(line) + 8 // each line's tag and length, too
		}
	}
	return n
}
