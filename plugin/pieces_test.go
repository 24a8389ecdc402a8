package plugin_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	gproto "google.golang.org/protobuf/proto"

	"github.com/placeos-go/engine/internal/testutil"
	"github.com/placeos-go/engine/plugin"
	"github.com/placeos-go/engine/plugin/proto"
)

// patterned is the bytes the driver's "size" answers are cut from: a pattern that repeats every
// 251 bytes, so that a piece out of place or lost is seen.
var patterned = sync.OnceValue(func() []byte {
	b := make([]byte, plugin.MaxMessageSize+1)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
})

// atLimit is the largest result an answer may carry: with the largest call id and its code, one
// message of exactly MaxMessageSize.
func atLimit(t *testing.T) int {
	t.Helper()
	size := func(n int) int {
		return gproto.Size(&proto.ExecResult{Id: math.MaxUint64, Response: &proto.ExecResponse{ResultJson: make([]byte, n), Code: 200}})
	}
	n := plugin.MaxMessageSize - 100
	n += plugin.MaxMessageSize - size(n)
	if size(n) != plugin.MaxMessageSize {
		t.Fatalf("an answer of %d result bytes measures %d, want %d", n, size(n), plugin.MaxMessageSize)
	}
	return n
}

func sizeCall(n int) *proto.ExecRequest {
	return &proto.ExecRequest{ModuleId: "mod-1", Function: "size", ArgsJson: []byte(fmt.Sprintf("[%d]", n))}
}

// arrivedSince returns what the host received on its Execs stream after the first from.
func (d *fakeDriver) arrivedSince(from int) []arrival {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]arrival(nil), d.arrived[from:]...)
}

func (d *fakeDriver) arrivedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.arrived)
}

func (d *fakeDriver) hooks(onSend func(*proto.ExecResult), onRecv func(*proto.ExecCall)) {
	d.mu.Lock()
	d.onSend, d.onRecv = onSend, onRecv
	d.mu.Unlock()
}

// checkSizes calls "size" for each n and wants its result back byte for byte, in the messages
// messages(n) says, and nothing left on the stream; over the limit, ResourceExhausted.
func checkSizes(t *testing.T, dc *plugin.Client, drv *fakeDriver, sizes []int, limit int, messages func(n int) int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, n := range sizes {
		from := drv.arrivedCount()
		resp, err := dc.Exec(ctx, sizeCall(n))
		if n > limit {
			if status.Code(err) != codes.ResourceExhausted {
				t.Errorf("a result of %d bytes (limit %d): %v, want ResourceExhausted", n, limit, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("a result of %d bytes: %v", n, err)
		}
		if got := resp.GetResultJson(); !bytes.Equal(got, patterned()[:n]) || resp.GetCode() != 200 {
			t.Fatalf("a result of %d bytes came back as %d bytes (code %d), not the same", n, len(got), resp.GetCode())
		}
		if got, want := len(drv.arrivedSince(from)), messages(n); got != want {
			t.Errorf("a result of %d bytes came in %d messages, want %d", n, got, want)
		}
		if calls, gathering := plugin.Pending(dc); calls != 0 || gathering != 0 {
			t.Errorf("after a result of %d bytes: %d calls wait, %d answers are gathered; want none", n, calls, gathering)
		}
	}
}

// A large answer comes in pieces of PieceSize and is put together byte for byte, up to the
// limit of an answer sent whole, and an answer over it fails alone, as it did whole.
func TestExecPiecesPutTogether(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connect(t)
	limit := atLimit(t)
	p := plugin.PieceSize
	sizes := []int{0, 1, p - 1, p, p + 1, 2*p - 1, 2 * p, 2*p + 1, 7*p + 13, limit - 1, limit, limit + 1}
	checkSizes(t, dc, drv, sizes, limit, func(n int) int { return max(1, (n+p-1)/p) })
}

// A driver built before pieces ignores the host's ask for them and answers whole; the host takes
// its answers as it always did, up to the same limit.
func TestExecPiecesFromAnOlderDriver(t *testing.T) {
	t.Parallel()
	dc, drv, _ := connectDriver(t, nopieces)
	limit := atLimit(t)
	checkSizes(t, dc, drv, []int{1, 4*plugin.PieceSize + 3, limit, limit + 1}, limit, func(int) int { return 1 })
}

// A host built before pieces (it opens the Execs stream without asking for them) gets every
// answer whole, up to the limit, however large.
func TestExecPiecesNotForAnOlderHost(t *testing.T) {
	t.Parallel()
	dc, _, _ := connect(t)
	limit := atLimit(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The Execs stream as an older host opens it: no metadata.
	s, err := dc.DriverClient.Execs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{4*plugin.PieceSize + 3, limit} {
		id := uint64(i + 1)
		if err := s.Send(&proto.ExecCall{Id: id, Request: sizeCall(n)}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("the answer of %d bytes: %v", n, err)
		}
		if r.Id != id || r.ResultSize != 0 || len(r.Piece) != 0 || !bytes.Equal(r.GetResponse().GetResultJson(), patterned()[:n]) {
			t.Fatalf("the answer of %d bytes: id %d, result_size %d, a piece of %d bytes, a result of %d bytes; want it whole",
				n, r.Id, r.ResultSize, len(r.Piece), len(r.GetResponse().GetResultJson()))
		}
	}
}

// An answer that is ready while a large answer is being sent goes out between its pieces: the
// host has it right after the large answer's first or second piece, not after its last. The
// large answer's second piece waits until the small answer has gone out (between the first two
// pieces) or waits for its turn to send; the turns go in order, so then it is next. (With a
// mutex for the turn, the sender of the pieces took it again before the small answer, for one to
// three more pieces.)
//
// Not parallel: it looks for the small answer among the goroutines of this process.
func TestExecPiecesLetOtherAnswersThrough(t *testing.T) {
	dc, drv, _ := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const large = 32 * plugin.PieceSize
	started := make(chan uint64, 1)
	held := make(chan error, 1)
	var smallSent atomic.Bool
	pieces := 0
	drv.hooks(func(r *proto.ExecResult) {
		switch {
		case string(r.GetResponse().GetResultJson()) == `["small"]`:
			smallSent.Store(true)
		case r.ResultSize == large:
			started <- r.Id
		case len(r.Piece) > 0:
			// Only the sender of the pieces runs here: no lock needed for pieces. The small
			// answer may have gone out already, between the first two pieces; else it waits
			// for its turn behind this piece.
			if pieces++; pieces != 1 {
				return
			}
			deadline := time.Now().Add(hang)
			for !smallSent.Load() && waitingForTurn() == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			var err error
			if !smallSent.Load() && waitingForTurn() == 0 {
				err = fmt.Errorf("the small answer neither went out nor waited for its turn within %s", hang)
			}
			held <- err
		}
	}, nil)
	from := drv.arrivedCount()
	largeCall := goExec(ctx, dc, sizeCall(large))
	var largeID uint64
	select {
	case largeID = <-started:
	case <-time.After(hang):
		t.Fatal("the large answer did not start in pieces")
	}
	small, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`["small"]`)})
	if err != nil || string(small.ResultJson) != `["small"]` {
		t.Fatalf("the small call: %v %v", small, err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	r := within(t, "the large call", largeCall)
	if r.err != nil || !bytes.Equal(r.resp.GetResultJson(), patterned()[:large]) {
		t.Fatalf("the large call: %v (%d bytes)", r.err, len(r.resp.GetResultJson()))
	}
	var order []string
	smallAt, lastPiece := -1, -1
	for i, a := range drv.arrivedSince(from) {
		switch {
		case a.id == largeID:
			order = append(order, "L")
			lastPiece = i
		case a.whole == len(`["small"]`):
			order = append(order, "s")
			smallAt = i
		}
	}
	t.Logf("arrived: %s", strings.Join(order, ""))
	if smallAt < 0 || lastPiece < 0 || smallAt > lastPiece || smallAt > 2 {
		t.Fatalf("arrived in the order %s, want the small answer (s) after the large one's first or second piece (L)", strings.Join(order, ""))
	}
}

// waitingForTurn counts the driver's answers waiting for their turn to send.
func waitingForTurn() int {
	count := 0
	for _, g := range testutil.GoroutineStacks() {
		if strings.Contains(g, "[chan send") && strings.Contains(g, "plugin.(*driverExecs).send(") {
			count++
		}
	}
	return count
}

// A caller that gives up while its answer comes in pieces leaves nothing gathered behind, and
// the driver sends no piece after it has the cancellation.
//
// Not parallel: it waits for the driver's sending to end by the goroutines of this process.
func TestExecPiecesCancelledMidAnswer(t *testing.T) {
	dc, drv, _ := connect(t)
	const large = 16 * plugin.PieceSize
	var (
		mu        sync.Mutex
		largeID   uint64
		sent      int  // messages of the large answer the driver sent
		cancelled bool // the driver has handled the large call's cancellation
	)
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	blocked := make(chan struct{})
	drv.hooks(func(r *proto.ExecResult) {
		mu.Lock()
		if r.ResultSize == large {
			largeID = r.Id
		}
		if r.Id != largeID {
			mu.Unlock()
			return
		}
		sent++
		n := sent
		mu.Unlock()
		if n == 2 { // the second piece waits until the driver has handled the cancellation
			close(blocked)
			<-release
		}
	}, func(handled *proto.ExecCall) {
		mu.Lock()
		defer mu.Unlock()
		if handled != nil && handled.Request == nil && handled.Id == largeID {
			cancelled = true
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	call := goExec(ctx, dc, sizeCall(large))
	select {
	case <-blocked:
	case <-time.After(hang):
		t.Fatal("the large answer's second piece was never sent")
	}
	testutil.Eventually(t, hang, "the first piece gathered", func() bool {
		_, gathering := plugin.Pending(dc)
		return gathering == 1
	})
	cancel()
	if r := within(t, "the cancelled call", call); status.Code(r.err) != codes.Canceled {
		t.Fatalf("the cancelled call: %v, want Canceled", r.err)
	}
	if calls, gathering := plugin.Pending(dc); calls != 0 || gathering != 0 {
		t.Fatalf("after the caller gave up: %d calls wait, %d answers are gathered; want none", calls, gathering)
	}
	testutil.Eventually(t, hang, "the driver has handled the cancellation", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return cancelled
	})
	releaseOnce.Do(func() { close(release) })
	testutil.WaitGoroutines(t, hang, "plugin.(*driverExecs).sendPieces", 0)
	mu.Lock()
	n := sent
	mu.Unlock()
	if n != 2 {
		t.Errorf("the driver sent %d messages of the answer, want 2: none after the cancellation", n)
	}
	if calls, gathering := plugin.Pending(dc); calls != 0 || gathering != 0 {
		t.Fatalf("after the driver stopped: %d calls wait, %d answers are gathered; want none", calls, gathering)
	}
	if resp, err := dc.Exec(context.Background(), sizeCall(3*plugin.PieceSize)); err != nil || !bytes.Equal(resp.ResultJson, patterned()[:3*plugin.PieceSize]) {
		t.Fatalf("a call after: %v", err)
	}
}

// A driver that breaks off an answer in pieces fails that call alone, and one whose stream ends
// mid-answer fails it like every other call on the stream (Unavailable); nothing gathered stays.
func TestExecPiecesBroken(t *testing.T) {
	t.Parallel()
	dc, _, _ := connectDriver(t, rogue)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for fn, want := range map[string]codes.Code{"pieces_over": codes.ResourceExhausted, "pieces_long": codes.Internal} {
		if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: fn}); status.Code(err) != want {
			t.Errorf("%s: %v, want %s", fn, err, want)
		}
		if calls, gathering := plugin.Pending(dc); calls != 0 || gathering != 0 {
			t.Errorf("after %s: %d calls wait, %d answers are gathered; want none", fn, calls, gathering)
		}
	}
	if resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "pieces_whole"}); err != nil || string(resp.ResultJson) != `"whole"` {
		t.Errorf("an answer begun in pieces, then sent whole: %v %v", resp, err)
	}
	if calls, gathering := plugin.Pending(dc); calls != 0 || gathering != 0 {
		t.Errorf("after an answer begun in pieces, then sent whole: %d calls wait, %d answers are gathered; want none", calls, gathering)
	}
	if resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[1]`)}); err != nil || string(resp.ResultJson) != `[1]` {
		t.Fatalf("a call on the same stream after: %v %v", resp, err)
	}
	if _, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "pieces_cut"}); status.Code(err) != codes.Unavailable {
		t.Errorf("a call whose stream ended mid-answer: %v, want Unavailable", err)
	}
	if calls, gathering := plugin.Pending(dc); calls != 0 || gathering != 0 {
		t.Errorf("after the stream ended: %d calls wait, %d answers are gathered; want none", calls, gathering)
	}
	testutil.Eventually(t, hang, "a call on a new stream", func() bool {
		resp, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`["again"]`)})
		return err == nil && string(resp.ResultJson) == `["again"]`
	})
}

// What a driver announces costs the host nothing it has not sent: calls whose first pieces
// announce an answer at the limit, and no more, hold the few bytes that came, not 64 MiB each.
func TestExecPiecesAnnouncedNotReserved(t *testing.T) {
	t.Parallel()
	dc, _, _ := connectDriver(t, rogue)
	const calls = 8
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "pieces_announce"})
		}()
	}
	testutil.Eventually(t, hang, "every call's first piece gathered", func() bool {
		_, gathering := plugin.Pending(dc)
		return gathering == calls
	})
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	if rise := int64(during.HeapAlloc) - int64(before.HeapAlloc); rise > calls*plugin.MaxMessageSize/4 {
		t.Errorf("%d announced answers at the limit raised the heap by %d MiB (a whole answer is %d MiB)", calls, rise>>20, plugin.MaxMessageSize>>20)
	}
	cancel()
	wg.Wait()
	if n, gathering := plugin.Pending(dc); n != 0 || gathering != 0 {
		t.Errorf("after the callers gave up: %d calls wait, %d answers are gathered; want none", n, gathering)
	}
}

// What a driver sends of answers it never finishes is bounded on the host as a whole, not only
// call by call: a driver that sends every piece but the last of an answer at the limit, for
// every call in flight (its own calls to its modules among them), had the host hold 64 MiB a
// call for as long as each caller waited. Past MaxGathered, the call whose piece would go over
// it fails alone (ResourceExhausted) and what was gathered for it is let go.
func TestExecPiecesBoundedTogether(t *testing.T) {
	t.Parallel()
	dc, _, _ := connectDriver(t, rogue)
	const calls = 8
	size := plugin.MaxMessageSize - 64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := dc.Exec(ctx, &proto.ExecRequest{ModuleId: "mod-1", Function: "pieces_most"})
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}()
	}
	// Each call either fails alone, or has every piece but the last gathered.
	testutil.Eventually(t, time.Minute, "every call failed or gathered all it was sent", func() bool {
		mu.Lock()
		failed := len(errs)
		mu.Unlock()
		_, gathering := plugin.Pending(dc)
		held, length := plugin.Gathered(dc)
		return failed+gathering == calls && length == gathering*(size-1) && held >= length
	})
	held, _ := plugin.Gathered(dc)
	if held > plugin.MaxGathered {
		t.Errorf("%d answers at the limit, never finished, hold %d MiB on the host; want at most %d MiB", calls, held>>20, plugin.MaxGathered>>20)
	}
	mu.Lock()
	for _, err := range errs {
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "being gathered") {
			t.Errorf("a call failed with %v, want ResourceExhausted for the answers being gathered", err)
		}
	}
	mu.Unlock()
	cancel()
	wg.Wait()
	if n, gathering := plugin.Pending(dc); n != 0 || gathering != 0 {
		t.Errorf("after the callers gave up: %d calls wait, %d answers are gathered; want none", n, gathering)
	}
	if resp, err := dc.Exec(context.Background(), &proto.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[1]`)}); err != nil || string(resp.ResultJson) != `[1]` {
		t.Fatalf("a call after: %v %v", resp, err)
	}
}
