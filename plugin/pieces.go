package plugin

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	grpcmd "google.golang.org/grpc/metadata"

	"github.com/placeos-go/engine/plugin/proto"
)

// A large answer travels on the Execs stream in pieces. Sent whole, an answer is one gRPC
// message, and the stream takes one message at a time: a 60 MiB answer held every other answer
// of the process behind it for as long as it took to leave (small calls waited 1.1–1.5 s behind
// four of them, against 0.5–0.7 s as unary calls), and the driver held the answer's encoded
// copy beside its result meanwhile. In pieces, each piece is a message of its own, sent in its
// turn: an answer that is ready waits behind one piece at most, and the driver encodes one
// piece at a time. The host gathers the pieces of an answer and hands its caller the whole.
//
// The host asks for pieces when it opens the stream (piecesKey): an older host, which would take
// a piece for a whole answer, never gets them, and an older driver ignores the ask and sends
// answers whole, which the host takes as before.

// PieceSize is the most of an answer's result_json that one message of the Execs stream carries
// to a host that takes pieces; a larger result goes in pieces of this size. Small enough that an
// answer waiting behind a piece waits a fraction of a millisecond on a local socket, large
// enough that the few bytes each piece adds (its id and length) are nothing beside it. An
// answer under it travels whole, as it always did, at no extra cost.
const PieceSize = 256 << 10

// gatherPrealloc is the most the host reserves for an answer's pieces before they arrive.
const gatherPrealloc = 16 * PieceSize

// maxGathered bounds what the answers being gathered on one stream (one driver process) hold
// together. Each is bounded by MaxMessageSize, but a driver that sends all of an answer but its
// last piece, for every call in flight (its own calls to its modules among them), had the host
// hold 64 MiB a call for as long as each caller waited, where answers sent whole are handed on
// as they come. Four answers at the limit fit at once; a piece that would take the stream past
// it fails its call alone, as an answer over MaxMessageSize does.
const maxGathered = 4 * MaxMessageSize

// piecesKey is the metadata with which a host opening an Execs stream says it takes answers in
// pieces (value "1").
const piecesKey = "engine-exec-pieces"

// withPieces is the context on which a host opens an Execs stream.
func withPieces(ctx context.Context) context.Context {
	return grpcmd.AppendToOutgoingContext(ctx, piecesKey, "1")
}

// takesPieces reports whether the host that opened the stream of ctx takes answers in pieces.
func takesPieces(ctx context.Context) bool {
	return slices.Contains(grpcmd.ValueFromIncomingContext(ctx, piecesKey), "1")
}

// sendPieces sends r, an answer whose result is over PieceSize, in pieces, each in its turn. It
// stops when sending ends: the host cancelled the call (and drops what came of it) or the stream
// ended.
func (d *driverExecs) sendPieces(sending context.Context, r *proto.ExecResult) {
	resp := r.GetResponse()
	result := resp.GetResultJson()
	// Each piece is a message of its own (gRPC may keep a sent message for a while): no
	// encoding of the whole answer, and no copy of its result, is made.
	first := &proto.ExecResult{Id: r.GetId(), ResultSize: uint64(len(result)),
		Response: &proto.ExecResponse{ResultJson: result[:PieceSize], Code: resp.GetCode(), Error: resp.GetError()}}
	if d.send(first) != nil {
		return
	}
	for off := PieceSize; off < len(result) && sending.Err() == nil; off += PieceSize {
		if d.send(&proto.ExecResult{Id: r.GetId(), Piece: result[off:min(off+PieceSize, len(result))]}) != nil {
			return
		}
	}
}

// gather adds r, a piece of an answer, to the answer, and hands the answer to its call once it
// is whole (or the call's failure, when the pieces do not make one).
func (es *execStream) gather(r *proto.ExecResult) {
	es.piecesMu.Lock()
	done := es.addPiece(r)
	es.gathering.Store(int32(len(es.pieces)))
	es.piecesMu.Unlock()
	if done == nil {
		return
	}
	if ch := es.calls.Take(done.GetId()); ch != nil {
		ch <- done
	}
}

// addPiece adds r to the answer it is a piece of (es.piecesMu held). It returns the answer once
// whole, or the failure of its call; nil while pieces are to come, and for a piece no call waits
// for (its caller gave up, or its answer failed already): it is dropped.
func (es *execStream) addPiece(r *proto.ExecResult) *proto.ExecResult {
	id := r.GetId()
	g := es.pieces[id]
	if size := r.GetResultSize(); size > 0 { // the first piece
		switch {
		case g != nil:
			es.forget(id)
			return badPieces(id, "began twice")
		case !es.calls.Has(id):
			// Checked under piecesMu, which a caller that gives up takes after it has removed
			// its call (dropPieces): nothing is gathered for a call that is gone.
			return nil
		case size > MaxMessageSize:
			return &proto.ExecResult{Id: id, StatusCode: uint32(codes.ResourceExhausted),
				StatusMessage: fmt.Sprintf("an exec answer with a result of %d bytes is over the %d byte limit", size, MaxMessageSize)}
		case r.Response == nil || r.StatusCode != uint32(codes.OK) || len(r.Piece) > 0 || uint64(len(r.Response.ResultJson)) > size:
			return badPieces(id, "its first piece is malformed")
		}
		// Sized once at the length the first piece announces, up to gatherPrealloc: past it the
		// buffer grows with the pieces that come. The announcement costs nothing a driver has
		// not sent: one that announced the limit for every call in flight and sent no more
		// would otherwise have the host reserve 64 MiB a call.
		first := r.Response.ResultJson
		r.Response.ResultJson = nil
		if !es.grow(r, len(first), max(min(int(size), gatherPrealloc), len(first))) {
			return overGathered(id, size)
		}
		r.Response.ResultJson = append(r.Response.ResultJson, first...)
		g = r
		if es.pieces == nil {
			es.pieces = map[uint64]*proto.ExecResult{}
		}
		es.pieces[id] = g
	} else {
		if g == nil {
			return nil
		}
		if r.Response != nil || r.StatusCode != uint32(codes.OK) || uint64(len(g.Response.ResultJson)+len(r.Piece)) > g.ResultSize {
			es.forget(id)
			return badPieces(id, "its pieces do not make the length it announced")
		}
		buf := g.Response.ResultJson
		if need := len(buf) + len(r.Piece); need > cap(buf) {
			// Grown as append would, but never past the length announced, and within the
			// stream's bound.
			if !es.grow(g, need, min(max(2*cap(buf), need), int(g.ResultSize))) {
				es.forget(id)
				return overGathered(id, g.ResultSize)
			}
		}
		g.Response.ResultJson = append(g.Response.ResultJson, r.Piece...)
	}
	if uint64(len(g.Response.ResultJson)) < g.ResultSize {
		return nil
	}
	es.forget(id) // handed to its caller: no longer the stream's to hold
	return g
}

// grow gives g's result a buffer of capacity c (at least need), keeping what it holds, unless the
// answers being gathered would then hold more than maxGathered together (es.piecesMu held).
func (es *execStream) grow(g *proto.ExecResult, need, c int) bool {
	old := cap(g.Response.ResultJson)
	if es.held-old+c > maxGathered {
		return false
	}
	buf := make([]byte, len(g.Response.ResultJson), max(c, need))
	copy(buf, g.Response.ResultJson)
	g.Response.ResultJson = buf
	es.held += cap(buf) - old
	return true
}

// forget drops what was gathered of call id's answer (es.piecesMu held).
func (es *execStream) forget(id uint64) {
	if g := es.pieces[id]; g != nil {
		es.held -= cap(g.Response.ResultJson)
		delete(es.pieces, id)
	}
}

// overGathered fails call id, whose answer of size bytes would take the answers being gathered
// on the stream past maxGathered.
func overGathered(id, size uint64) *proto.ExecResult {
	return &proto.ExecResult{Id: id, StatusCode: uint32(codes.ResourceExhausted),
		StatusMessage: fmt.Sprintf("plugin: an exec answer of %d bytes in pieces would take the driver's answers being gathered past the %d bytes the host holds at once", size, maxGathered)}
}

// badPieces fails call id whose answer came in pieces that make no answer (a driver that breaks
// the protocol): that call alone.
func badPieces(id uint64, why string) *proto.ExecResult {
	return &proto.ExecResult{Id: id, StatusCode: uint32(codes.Internal),
		StatusMessage: "plugin: the driver sent an exec answer in pieces that " + why}
}

// dropPieces forgets what was gathered of call id's answer: for a caller that gave up (after it
// removed its call, so that no piece after it starts a new gathering), or one answered whole.
func (es *execStream) dropPieces(id uint64) {
	es.piecesMu.Lock()
	es.forget(id)
	es.gathering.Store(int32(len(es.pieces)))
	es.piecesMu.Unlock()
}
