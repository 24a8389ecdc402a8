package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/internal/testutil"

	pb "github.com/placeos-go/engine/plugin/proto"
)

// stoppedHang bounds how long a call of a few hundred milliseconds may take against a stopped
// driver process before the test calls it hung: generous, for a loaded machine.
const stoppedHang = 15 * time.Second

type execOutcome struct {
	resp *pb.ExecResponse
	err  error
}

func (f *fixture) goExec(ctx context.Context, req *pb.ExecRequest) <-chan execOutcome {
	out := make(chan execOutcome, 1)
	go func() {
		resp, err := f.sup.Exec(ctx, req)
		out <- execOutcome{resp, err}
	}()
	return out
}

func waitOutcome(t *testing.T, what string, ch <-chan execOutcome) execOutcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(stoppedHang):
		t.Fatalf("%s did not return within %s", what, stoppedHang)
		return execOutcome{}
	}
}

// A stopped driver process (SIGSTOP: frozen, until the probe kills it) holds no call past its
// own deadline, and a call that gives up costs the others nothing:
//   - a call waiting to send behind another call's request, which the stopped process's flow
//     control holds, ends at its deadline alone: the stream, and that request, go on, and
//     answer once the process runs again;
//   - once the stream has ended, a call waiting while another opens the next one (the stopped
//     process never answers the opening) ends at its own deadline, not at the opener's.
//
// Not parallel: it waits for goroutines by their stacks.
func TestExecStoppedDriverHoldsNoCallPastItsDeadline(t *testing.T) {
	f := newFixture(t, Config{ProbeInterval: time.Hour}) // the probe would kill the stopped process
	f.start(t, testModule("mod-1", `{}`))
	f.exec(t, "mod-1", "echo", "warm") // the Execs stream is open
	pid := f.pid(t)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	testutil.Freeze(t, pid)

	// 8 MiB, a client's largest execute body: far over what the socket and gRPC's windows take.
	// gRPC queues a message whole and holds the next send until the queue has left.
	big, _ := json.Marshal([]string{strings.Repeat("x", 8<<20)})
	lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
	defer lcancel()
	bigCall := f.goExec(lctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: big})
	testutil.Eventually(t, stoppedHang, "the large request queued", func() bool { return waitingForAnswers() == 1 })
	next := f.goExec(lctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[0]`)})
	testutil.Eventually(t, stoppedHang, "the next request held by the stopped process", func() bool {
		return testutil.Goroutines("google.golang.org/grpc/internal/transport.(*writeQuota).get") >= 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	o := waitOutcome(t, "a call waiting to send behind it", f.goExec(ctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[1]`)}))
	if !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("the waiting call: %v, want ErrTimeout", o.err)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	o = waitOutcome(t, "the large call once the process runs", bigCall)
	if o.err != nil || string(o.resp.GetResultJson()) != string(big) {
		t.Fatalf("the large call: %v (answer of %d bytes)", o.err, len(o.resp.GetResultJson()))
	}
	o = waitOutcome(t, "the held call once the process runs", next)
	if o.err != nil || string(o.resp.GetResultJson()) != `[0]` {
		t.Fatalf("the held call: %v %v", o.resp, o.err)
	}

	// Stopped again, a call stuck in its send past its context's end ends the stream: the
	// cancellation of a call sent after 8 MiB.
	testutil.Freeze(t, pid)
	endStream(t, f, big)
	// A call with a long deadline opens the next stream, which the stopped process never
	// answers (it may first find the ended stream not yet forgotten: it tries again).
	long, stopLong := context.WithCancel(context.Background())
	opener := make(chan struct{})
	go func() {
		defer close(opener)
		for long.Err() == nil {
			_, _ = f.sup.Exec(long, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo"})
		}
	}()
	defer func() { stopLong(); <-opener }()

	testutil.Eventually(t, stoppedHang, "a call opening the next stream", func() bool {
		return testutil.Goroutines("github.com/placeos-go/engine/plugin.(*execs).open") >= 1
	})
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	o = waitOutcome(t, "a call while another opens the stream", f.goExec(ctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[2]`)}))
	if !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("the call: %v, want ErrTimeout", o.err)
	}

	stopped = false
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if got := f.exec(t, "mod-1", "echo", 3); got != `[3]` {
		t.Fatalf("a call once the process runs: %s", got)
	}
}

// waitingForAnswers counts the calls sent on an Execs stream that wait for their answers.
func waitingForAnswers() int {
	count := 0
	for _, g := range testutil.GoroutineStacks() {
		if strings.Contains(g, "[select") && strings.Contains(g, "plugin.(*execs).exec(") && !strings.Contains(g, "sendWithin(") {
			count++
		}
	}
	return count
}

// A call whose Execs stream ends under it while its process lives (a frozen process's stream,
// ended by another call stuck in its send past its deadline) is told so as a 503 to retry, not
// as a 500 failure of the node.
func TestExecStreamEndedUnderACallIsUnavailable(t *testing.T) {
	f := newFixture(t, Config{ProbeInterval: time.Hour}) // the probe would kill the stopped process
	f.start(t, testModule("mod-1", `{}`))
	f.exec(t, "mod-1", "echo", "warm")
	pid := f.pid(t)
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	testutil.Freeze(t, pid)

	lctx, lcancel := context.WithTimeout(context.Background(), time.Minute)
	defer lcancel()
	waiting := f.goExec(lctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: []byte(`[0]`)})
	testutil.Eventually(t, stoppedHang, "the call sent", func() bool { return waitingForAnswers() >= 1 })

	big, _ := json.Marshal([]string{strings.Repeat("x", 8<<20)})
	endStream(t, f, big)
	o := waitOutcome(t, "the call whose stream ended", waiting)
	if !errors.Is(o.err, ErrCallLost) || errkind.Classify(o.err).Status != http.StatusServiceUnavailable {
		t.Fatalf("the call whose stream ended: %v (%d), want ErrCallLost, 503", o.err, errkind.Classify(o.err).Status)
	}
}

// endStream ends the Execs stream of f's stopped driver process: large calls are sent and
// cancelled until one (or its cancellation) is held in its send past the grace of a call whose
// context has ended, which ends the stream.
func endStream(t *testing.T, f *fixture, big []byte) {
	t.Helper()
	const receiver = "github.com/placeos-go/engine/plugin.(*execStream).receive"
	streams := testutil.Goroutines(receiver)
	for i := 0; testutil.Goroutines(receiver) == streams; i++ {
		if i == 20 {
			t.Fatal("20 large calls cancelled, and the stream goes on")
		}
		const exec = "github.com/placeos-go/engine/plugin.(*execs).exec"
		calls := testutil.Goroutines(exec)
		ctx, cancel := context.WithCancel(context.Background())
		call := f.goExec(ctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: big})
		// Sent, or held in its send: either way it ends the stream once cancelled, or leaves
		// the next one held. An earlier call's cancellation may end the stream meanwhile (its
		// sender had not started when the wait below found no send under way): then this call
		// fails at once, and a call waiting on the stream leaves exec as this one enters it.
		testutil.Eventually(t, stoppedHang, "the large call under way", func() bool {
			return testutil.Goroutines(exec) > calls || len(call) > 0 || testutil.Goroutines(receiver) < streams
		})
		cancel()
		waitOutcome(t, "a cancelled large call", call)
		testutil.Eventually(t, stoppedHang, "the large call's cancellation sent or given up", func() bool {
			return testutil.Goroutines("github.com/placeos-go/engine/plugin.(*execStream).sendWithin") == 0 ||
				testutil.Goroutines(receiver) < streams
		})
	}
}

// Large answers from a driver process (in pieces on its Execs stream) come back byte for byte
// while small calls to the same process go on among them, each with its own answer.
func TestExecLargeAnswersAmongSmallCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{})
	f.start(t, testModule("mod-1", `{}`))
	// Every 7-digit string once: a piece out of place or lost changes the answer.
	big, _ := json.Marshal([]string{testutil.DeBruijnDigits(7)})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var large []<-chan execOutcome
	for range 3 {
		large = append(large, f.goExec(ctx, &pb.ExecRequest{ModuleId: "mod-1", Function: "echo", ArgsJson: big}))
	}
	for i := range 50 {
		want := fmt.Sprintf(`[%d]`, i)
		if got := f.exec(t, "mod-1", "echo", i); got != want {
			t.Fatalf("small call %d: %s, want %s", i, got, want)
		}
	}
	for i, ch := range large {
		o := waitOutcome(t, "a large call", ch)
		if o.err != nil || !bytes.Equal(o.resp.GetResultJson(), big) {
			t.Fatalf("large call %d: %v (an answer of %d bytes, want the %d sent)", i, o.err, len(o.resp.GetResultJson()), len(big))
		}
	}
}
