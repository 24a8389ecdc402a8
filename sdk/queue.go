package sdk

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Queue defaults, as in PlaceOS.
const (
	DefaultPriority = 50
	DefaultTimeout  = 5 * time.Second
	DefaultRetries  = 3
	// RetryBonus is added to a command's priority each time it is retried, so a retried command
	// runs before the commands that were queued behind it.
	RetryBonus = 20
	// NoRetries as Command.Retries makes the first timeout final.
	NoRetries = -1
)

// Command is one unit of device I/O. The queue runs one command at a time per module: it sends,
// waits for the response (matched by Response or the transport's Received callback, which
// complete the Task), retries on timeout, and reports the outcome to whoever waits on the Task.
// A panic in Send, Response or Received fails the command at once with class "Panic" (retrying
// would panic again). A failure no exec waits for is logged at WARN, so a broken poll shows.
type Command struct {
	// Name makes the command replace a queued (not yet running) command of the same name, and
	// keeps it queued while the transport is offline. Unnamed commands fail at once when offline.
	Name string
	// Priority: higher runs first [DefaultPriority]. Zero takes the default; use any other value
	// (negatives included) as is.
	Priority int
	// Timeout per attempt [DefaultTimeout].
	Timeout time.Duration
	// Retries after a timeout or Task.Retry [DefaultRetries]; NoRetries for none.
	Retries int
	// NoWait completes the command as soon as it is sent (fire and forget).
	NoWait bool
	// Delay pauses the queue after the command completes, for devices that need a breather.
	Delay time.Duration
	// ClearQueue aborts every queued command once this one completes.
	ClearQueue bool
	// Data is written to the module's transport. Ignored when Send is set.
	Data []byte
	// Send performs the command instead of writing Data: e.g. an HTTP request that completes
	// the task itself. It runs on the queue's goroutine; ctx ends when the module stops. An
	// error it returns fails the command (ErrNotConnected retries it), even when Send dropped
	// the connection first: the attempt's timeout waits for Send to return.
	Send func(ctx context.Context, t *Task) error
	// Response gets every frame received while this command is current. When nil, frames go to
	// the transport's Received callback with the task. Complete the task with Success, Abort,
	// Retry or Fail; frames that are not the answer can be ignored.
	Response func(frame []byte, t *Task)
}

// AbortError is the failure of a command that did not succeed: the exec caller receives class
// "Abort", the reason as the message and the code (500 unless set; 504 after the retry limit).
type AbortError struct {
	Reason string
	Status int
	kind   error
}

func (e *AbortError) Error() string { return e.Reason }

// Unwrap returns ErrAborted, ErrOffline or ErrRetryLimit.
func (e *AbortError) Unwrap() error { return e.kind }

// Class is the exec error class.
func (e *AbortError) Class() string { return "Abort" }

// Code is the exec result code.
func (e *AbortError) Code() int {
	if e.Status == 0 {
		return 500
	}
	return e.Status
}

// Task is a queued command and, once complete, its outcome.
type Task struct {
	q        *Queue
	cmd      Command
	priority int
	seq      uint64

	// guarded by q.mu
	attempt  int // attempts started
	callers  int // execs waiting for the outcome (Wait or Do with an exec's context)
	timer    Timer
	sending  bool // the attempt's Send (or write) is running
	expired  bool // the attempt timed out while sending: the retry waits for the send
	finished bool
	value    any
	code     int
	err      error
	done     chan struct{}
}

// Name is the command's name.
func (t *Task) Name() string { return t.cmd.Name }

// Command returns the command the task runs.
func (t *Task) Command() Command { return t.cmd }

// Attempt is the number of attempts started so far (1 during the first).
func (t *Task) Attempt() int {
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	return t.attempt
}

// Done is closed when the task completes.
func (t *Task) Done() <-chan struct{} { return t.done }

// Wait waits for the outcome: the Success value, or an error (*AbortError for aborts, offline
// and the retry limit; the error given to Fail otherwise). ctx ending stops the wait, not the
// command. Waiting with an exec's context makes that exec the command's caller: its failure is
// then not logged as a background one.
func (t *Task) Wait(ctx context.Context) (any, error) {
	if isExec(ctx) {
		t.q.mu.Lock()
		t.callers++
		t.q.mu.Unlock()
		defer t.leave()
	}
	return t.wait(ctx)
}

func (t *Task) wait(ctx context.Context) (any, error) {
	select {
	case <-t.done:
		return t.value, t.err
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for command %q: %w", t.cmd.Name, ctx.Err())
	}
}

// Result returns the outcome of a completed task; ok is false while it is still pending.
func (t *Task) Result() (value any, err error, ok bool) {
	select {
	case <-t.done:
		return t.value, t.err, true
	default:
		return nil, nil, false
	}
}

func (t *Task) leave() {
	t.q.mu.Lock()
	t.callers--
	t.q.mu.Unlock()
}

func isExec(ctx context.Context) bool {
	c := callOf(ctx)
	return c != nil && c.exec
}

// Success completes the task with value (code 200). Later calls are ignored.
func (t *Task) Success(value any) { t.q.complete(t, value, 200, nil) }

// SuccessCode completes the task with value and an HTTP-style code.
func (t *Task) SuccessCode(value any, code int) { t.q.complete(t, value, code, nil) }

// Abort fails the task with reason (code 500) without retrying.
func (t *Task) Abort(reason string) { t.AbortCode(reason, 500) }

// AbortCode fails the task with reason and code without retrying.
func (t *Task) AbortCode(reason string, code int) {
	t.q.complete(t, nil, code, &AbortError{Reason: reason, Status: code, kind: ErrAborted})
}

// Fail fails the task with err (class and code as for a function's error).
func (t *Task) Fail(err error) { t.q.complete(t, nil, 500, err) }

// Retry ends the current attempt as if it had timed out: the command is queued again with the
// retry bonus, or aborted when its retries are used up.
func (t *Task) Retry(reason string) {
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	if t.q.current == t && !t.finished {
		t.q.retryLocked(t, reason)
	}
}

// ResetTimer restarts the current attempt's timeout, for a device that answers in several parts.
func (t *Task) ResetTimer() {
	t.q.mu.Lock()
	defer t.q.mu.Unlock()
	if t.q.current == t && !t.finished {
		t.q.armLocked(t)
	}
}

// Queue serialises a module's device I/O (Base.Queue). It processes commands while online; a
// transport sets it online when connected, and logic or HTTP modules are always online.
//
// A command has a caller when an exec waits for it: Do or Task.Wait with the exec's context, or
// a function that returns the Task. A command without one (queued by a scheduled job, a
// connect hook or a Received callback) that fails — refused, out of retries, a send error or a
// panic — is logged at WARN as "background command failed" with its name, the start of its data
// and the module. The queue's own aborts (offline, replaced, cleared, stopped) are not logged.
type Queue struct {
	m     *module
	clock Clock

	mu      sync.Mutex
	pending []*Task
	current *Task
	online  bool
	paused  bool // a command's Delay is running
	stopped bool
	seq     uint64
	sender  func(ctx context.Context, data []byte) error
	started bool
	wake    chan struct{}
	// offlineErr is why the transport is offline when it knows better than "offline": the
	// error of the last connection's failed handshake.
	offlineErr error
}

func newQueue(m *module, clock Clock) *Queue {
	return &Queue{m: m, clock: clock, online: true, wake: make(chan struct{}, 1)}
}

// Queue is the module's command queue.
func (b *Base) Queue() *Queue {
	if b.m == nil {
		// A driver value made outside the SDK still gets a working, always-online queue.
		return newQueue(nil, WallClock{})
	}
	return b.m.queue()
}

// Add queues cmd and returns its task. A named command replaces a queued one of the same name
// (which is aborted); an unnamed command added while offline fails at once.
func (q *Queue) Add(cmd Command) *Task { return q.add(cmd, 0) }

// Do adds cmd and waits for its outcome (see Task.Wait).
func (q *Queue) Do(ctx context.Context, cmd Command) (any, error) {
	if !isExec(ctx) {
		return q.Add(cmd).wait(ctx)
	}
	// The exec counts as waiting from the start, so a failure before the wait begins still
	// reaches it alone.
	t := q.add(cmd, 1)
	defer t.leave()
	return t.wait(ctx)
}

func (q *Queue) add(cmd Command, callers int) *Task {
	if cmd.Priority == 0 {
		cmd.Priority = DefaultPriority
	}
	if cmd.Timeout == 0 {
		cmd.Timeout = DefaultTimeout
	}
	if cmd.Retries == 0 {
		cmd.Retries = DefaultRetries
	} else if cmd.Retries < 0 {
		cmd.Retries = 0
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	t := &Task{q: q, cmd: cmd, priority: cmd.Priority, seq: q.seq, callers: callers, done: make(chan struct{})}
	switch {
	case q.stopped:
		q.finishLocked(t, nil, 503, &AbortError{Reason: "module stopped", Status: 503, kind: ErrAborted})
		return t
	case !q.online && cmd.Name == "":
		q.finishLocked(t, nil, 503, q.offlineLocked())
		return t
	}
	if cmd.Name != "" {
		for i, old := range q.pending {
			if old.cmd.Name == cmd.Name {
				q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
				q.finishLocked(old, nil, 500, &AbortError{Reason: "replaced by a newer " + cmd.Name + " command", kind: ErrAborted})
				break
			}
		}
	}
	q.pending = append(q.pending, t)
	q.startLocked()
	q.signal()
	return t
}

// Clear aborts every queued command (not the one running).
func (q *Queue) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.abortPendingLocked(func(*Task) bool { return true }, "queue cleared", ErrAborted)
}

// Len is the number of queued commands, not counting the one running.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Current is the running command, nil when none.
func (q *Queue) Current() *Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.current
}

// busy says what the queue is doing: a command running, or commands ready to run; "" when
// none (commands waiting for the transport or a Delay are not ready).
func (q *Queue) busy() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case q.current != nil:
		return "command " + describe(q.current.cmd) + " running"
	case len(q.pending) > 0 && q.online && !q.paused && !q.stopped:
		return fmt.Sprintf("%d commands queued", len(q.pending))
	}
	return ""
}

// Online reports whether the queue is processing.
func (q *Queue) Online() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.online
}

// SetOnline starts or stops processing. Going offline aborts the queued unnamed commands;
// named ones wait. Transports call it as they connect and disconnect.
func (q *Queue) SetOnline(on bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if on {
		q.offlineErr = nil
	}
	if q.online == on {
		return
	}
	q.online = on
	if !on {
		q.abortPendingLocked(func(t *Task) bool { return t.cmd.Name == "" }, ErrOffline.Error(), ErrOffline)
		return
	}
	q.signal()
}

// setOfflineError makes err (nil: none) what unnamed commands fail with while the queue is
// offline, until it goes online.
func (q *Queue) setOfflineError(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.offlineErr = err
}

// offlineLocked is the failure of an unnamed command while offline.
func (q *Queue) offlineLocked() error {
	if q.offlineErr != nil {
		return &offlineError{err: q.offlineErr}
	}
	return &AbortError{Reason: ErrOffline.Error(), Status: 503, kind: ErrOffline}
}

// setSender is how a transport becomes the destination of Command.Data.
func (q *Queue) setSender(send func(ctx context.Context, data []byte) error) {
	q.mu.Lock()
	q.sender = send
	q.mu.Unlock()
}

// deliver routes a received frame: to the running command's Response, else to fallback with
// the running command (nil when none). A handler that panics fails the running command: the
// next frame would most likely panic the same way, so waiting for a retry only delays the error.
func (q *Queue) deliver(frame []byte, fallback func([]byte, *Task)) {
	q.mu.Lock()
	cur := q.current
	if cur != nil && cur.finished {
		cur = nil
	}
	q.mu.Unlock()
	callback := "Received"
	defer func() {
		if p := recover(); p != nil {
			err := q.panicked(cur, callback, p)
			if cur != nil {
				cur.Fail(err)
			}
		}
	}()
	if cur != nil && cur.cmd.Response != nil {
		callback = "Response"
		cur.cmd.Response(frame, cur)
		return
	}
	if fallback != nil {
		fallback(frame, cur)
	}
}

// panicked logs a panic in a driver callback run for t (nil: no command) and returns the error
// that fails t: class Panic, code 500, the stack as its backtrace, as for a function's panic.
func (q *Queue) panicked(t *Task, callback string, p any) error {
	stack := panicStack()
	args := []any{"callback", callback, "panic", fmt.Sprint(p), "stack", strings.Join(stack, "\n")}
	if t != nil {
		args = append(args, "command", describe(t.cmd))
	}
	q.log().Error("callback panicked", args...)
	return &panicError{msg: fmt.Sprintf("%s panicked: %v", callback, p), stack: stack}
}

// panicError is a command failed by a panic in its Send, Response or Received callback.
type panicError struct {
	msg   string
	stack []string
}

func (e *panicError) Error() string       { return e.msg }
func (e *panicError) Class() string       { return "Panic" }
func (e *panicError) Code() int           { return 500 }
func (e *panicError) Backtrace() []string { return e.stack }

// describe names a command in log lines: its name and the start of its data, as far as it has them.
func describe(cmd Command) string {
	var parts []string
	if cmd.Name != "" {
		parts = append(parts, cmd.Name)
	}
	if len(cmd.Data) > 0 {
		parts = append(parts, strconv.Quote(abbreviate(cmd.Data)))
	}
	if len(parts) == 0 {
		return "(unnamed)"
	}
	return strings.Join(parts, " ")
}

func (q *Queue) log() hclog.Logger {
	if q.m == nil {
		return nullLogger
	}
	return q.m.log
}

// stop aborts everything; the worker exits.
func (q *Queue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.abortPendingLocked(func(*Task) bool { return true }, "module stopped", ErrAborted)
	if q.current != nil {
		q.finishLocked(q.current, nil, 503, &AbortError{Reason: "module stopped", Status: 503, kind: ErrAborted})
	}
	q.signal()
}

func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// startLocked starts the worker on first use, so an idle module costs no goroutine.
func (q *Queue) startLocked() {
	if q.started {
		return
	}
	q.started = true
	if q.m == nil {
		go q.run(context.Background())
		return
	}
	q.m.spawn(func() { q.run(q.m.ctx) })
}

func (q *Queue) run(ctx context.Context) {
	for {
		t := q.next()
		if t == nil {
			select {
			case <-q.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		q.send(ctx, t)
	}
}

// next starts the next attempt (under the lock, so its timeout is armed before anything is
// sent), or returns nil when the queue must wait.
func (q *Queue) next() *Task {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped || !q.online || q.paused || q.current != nil || len(q.pending) == 0 {
		return nil
	}
	best := 0
	for i, t := range q.pending[1:] {
		if b := q.pending[best]; t.priority > b.priority || (t.priority == b.priority && t.seq < b.seq) {
			best = i + 1
		}
	}
	t := q.pending[best]
	q.pending = append(q.pending[:best:best], q.pending[best+1:]...)
	q.current = t
	t.attempt++
	if !t.cmd.NoWait {
		q.armLocked(t)
	}
	return t
}

// send runs one attempt's Send or write. A timeout that falls due meanwhile waits for it: the
// command stays the running one, so what Send does on its way out (drop the connection, fail the
// task) is not overtaken by a retry and the offline abort of that retry.
func (q *Queue) send(ctx context.Context, t *Task) {
	q.mu.Lock()
	sender := q.sender
	t.sending = true
	q.mu.Unlock()
	var err error
	switch {
	case t.cmd.Send != nil:
		err = q.safeSend(ctx, t)
	case sender == nil:
		err = ErrNoTransport
	default:
		err = sender(ctx, t.cmd.Data)
	}
	q.mu.Lock()
	t.sending = false
	expired := t.expired && err == nil && q.current == t && !t.finished
	t.expired = false
	if expired {
		q.retryLocked(t, "timeout")
	}
	q.mu.Unlock()
	if err != nil {
		if errors.Is(err, ErrNotConnected) {
			// The connection dropped between the online check and the write: try again once
			// the transport is back, within the command's retries.
			t.Retry(err.Error())
			return
		}
		t.Fail(err)
		return
	}
	if t.cmd.NoWait {
		t.Success(nil)
	}
}

func (q *Queue) safeSend(ctx context.Context, t *Task) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = q.panicked(t, "Send", p)
		}
	}()
	return t.cmd.Send(ctx, t)
}

func (q *Queue) armLocked(t *Task) {
	if t.timer != nil {
		t.timer.Stop()
	}
	attempt := t.attempt
	t.timer = q.clock.AfterFunc(t.cmd.Timeout, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		switch {
		case q.current != t || t.attempt != attempt || t.finished:
		case t.sending:
			t.expired = true
		default:
			q.retryLocked(t, "timeout")
		}
	})
}

func (q *Queue) retryLocked(t *Task, reason string) {
	if t.timer != nil {
		t.timer.Stop()
	}
	if t.attempt > t.cmd.Retries {
		err := &AbortError{Reason: ErrRetryLimit.Error() + " (" + reason + ")", Status: 504, kind: ErrRetryLimit}
		q.reportLocked(t, err)
		q.finishLocked(t, nil, 504, err)
		return
	}
	q.current = nil
	if !q.online && t.cmd.Name == "" {
		q.finishLocked(t, nil, 503, q.offlineLocked())
		return
	}
	if q.m != nil {
		q.m.log.Debug("retrying command", "command", t.cmd.Name, "attempt", t.attempt, "reason", reason)
	}
	t.priority += RetryBonus
	q.pending = append(q.pending, t)
	q.signal()
}

func (q *Queue) complete(t *Task, value any, code int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t.finished {
		return
	}
	for i, p := range q.pending {
		if p == t {
			q.pending = append(q.pending[:i:i], q.pending[i+1:]...)
			break
		}
	}
	q.reportLocked(t, err)
	q.finishLocked(t, value, code, err)
}

// reportLocked logs the failure of a command no exec waits for (a poll, a scheduled query):
// nobody else would hear of it. It covers what the command itself ran into (a refusal, the
// retry limit, a panic, a send error); the queue's own aborts (offline, replaced, cleared,
// stopped) are its state, not a failure of the command, and are not logged. Logged before done
// closes, so whoever sees the outcome finds the line written.
func (q *Queue) reportLocked(t *Task, err error) {
	if err == nil || t.finished || t.callers > 0 {
		return
	}
	q.log().Warn("background command failed", "command", describe(t.cmd), "attempt", t.attempt, "error", err)
}

func (q *Queue) finishLocked(t *Task, value any, code int, err error) {
	if t.finished {
		return
	}
	t.finished = true
	if t.timer != nil {
		t.timer.Stop()
	}
	t.value, t.code, t.err = value, code, err
	if q.current == t {
		q.current = nil
		if t.cmd.Delay > 0 && !q.stopped {
			// Armed before done closes: a test that saw the outcome finds the pause in place.
			q.paused = true
			q.clock.AfterFunc(t.cmd.Delay, func() {
				q.mu.Lock()
				q.paused = false
				q.signal()
				q.mu.Unlock()
			})
		}
		if t.cmd.ClearQueue {
			q.abortPendingLocked(func(*Task) bool { return true }, "queue cleared", ErrAborted)
		}
		q.signal()
	}
	close(t.done)
}

func (q *Queue) abortPendingLocked(match func(*Task) bool, reason string, kind error) {
	keep := q.pending[:0]
	var drop []*Task
	for _, t := range q.pending {
		if match(t) {
			drop = append(drop, t)
		} else {
			keep = append(keep, t)
		}
	}
	q.pending = keep
	code := 500
	if kind == ErrOffline {
		code = 503
	}
	for _, t := range drop {
		q.finishLocked(t, nil, code, &AbortError{Reason: reason, Status: code, kind: kind})
	}
}
