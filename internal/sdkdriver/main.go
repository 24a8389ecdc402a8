// Command sdkdriver is a minimal driver built on sdk, for tests that need the SDK's behaviour in
// a real process (request ids on the driver's log lines). Functions:
//
//	greet(name)   logs "greeting" at info through sdk.Log(ctx) and returns "hello <name>"
//	fail()        returns an error
//	raise(code, class)  returns an *sdk.Error with that code and class
//	echo(value)   returns its argument
//	call(module, fn)    calls fn on another module (by id) and returns its answer, or the
//	                    *sdk.Error it failed with, as the SDK gives it
//	subscribe_many(n)  subscribes to n statuses of its own module (s0…) until unsubscribe_all
//	unsubscribe_all()  ends them; returns how many
//	set_sized(name, size)  sets status name to a JSON string of size bytes and flushes: the
//	              engine's refusal comes back as the *sdk.Error Flush returned
//	wait()        waits until its call's context ends, then sets status "waited" to what the
//	              context said: {"err": ctx.Err(), "deadline_ms": ms from the call's start to
//	              ctx.Deadline(), -1 without one}
//
// A module whose settings hold "statuses_on_start" (an object: status name → value) sets those
// statuses while it loads, as a device driver sets "connected" and what it reads.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/placeos-go/engine/sdk"
)

// Greeter is the driver value of one module.
type Greeter struct {
	sdk.Base
	mu   sync.Mutex
	subs []func() // what subscribe_many started
}

// GreetArgs are greet's parameters.
type GreetArgs struct {
	Name string `json:"name"`
}

// Greet answers with a greeting and logs one line carrying the request's id.
func (g *Greeter) Greet(ctx context.Context, a GreetArgs) (string, error) {
	sdk.Log(ctx).Info("greeting", "name", a.Name)
	return "hello " + a.Name, nil
}

// Fail always fails.
func (g *Greeter) Fail(ctx context.Context) error { return errors.New("failing on purpose") }

// RaiseArgs are raise's parameters.
type RaiseArgs struct {
	Code         int    `json:"code"`
	Class        string `json:"class"`
	RetryAfterMS int    `json:"retry_after_ms" default:"0"`
}

// Raise fails with the code, class and retry hint it is asked for.
func (g *Greeter) Raise(a RaiseArgs) error {
	return &sdk.Error{Status: a.Code, Kind: a.Class, Err: errors.New("raised on purpose"),
		RetryAfter: time.Duration(a.RetryAfterMS) * time.Millisecond}
}

// EchoArgs are echo's parameters.
type EchoArgs struct {
	Value json.RawMessage `json:"value"`
}

// Echo returns its argument.
func (g *Greeter) Echo(a EchoArgs) json.RawMessage { return a.Value }

// Wait tells, once its call is over, what its context said about why.
func (g *Greeter) Wait(ctx context.Context) string {
	start := time.Now()
	ms := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		ms = dl.Sub(start).Milliseconds()
	}
	<-ctx.Done()
	g.Set("waited", map[string]any{"err": ctx.Err().Error(), "deadline_ms": ms})
	return ctx.Err().Error()
}

// SetSizedArgs are set_sized's parameters.
type SetSizedArgs struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

// SetSized sets a status of size bytes of JSON and waits until the engine took it or refused it.
func (g *Greeter) SetSized(ctx context.Context, a SetSizedArgs) error {
	g.Set(a.Name, strings.Repeat("x", max(a.Size-2, 0)))
	return g.Flush(ctx)
}

// OnLoad sets the statuses the settings name under statuses_on_start.
func (g *Greeter) OnLoad(context.Context) error {
	var statuses map[string]json.RawMessage
	if g.Setting("statuses_on_start", &statuses) == nil {
		for name, v := range statuses {
			g.Set(name, v)
		}
	}
	return nil
}

// CallArgs are call's parameters.
type CallArgs struct {
	Module   string `json:"module"`
	Function string `json:"fn"`
}

// Call calls another module; a failure comes back as the *sdk.Error Exec returned, unchanged.
func (g *Greeter) Call(ctx context.Context, a CallArgs) (json.RawMessage, error) {
	return g.Exec(ctx, sdk.Target{ModuleID: a.Module}, a.Function)
}

// SubscribeManyArgs are subscribe_many's parameters.
type SubscribeManyArgs struct {
	N int `json:"n"`
}

// SubscribeMany subscribes to n statuses of its own module until UnsubscribeAll.
func (g *Greeter) SubscribeMany(a SubscribeManyArgs) int {
	for i := range a.N {
		cancel := g.Base.Subscribe(context.Background(), sdk.Target{ModuleID: g.ModuleID()}, fmt.Sprint("s", i), func(json.RawMessage) {})
		g.mu.Lock()
		g.subs = append(g.subs, cancel)
		g.mu.Unlock()
	}
	return a.N
}

// UnsubscribeAll ends what SubscribeMany started.
func (g *Greeter) UnsubscribeAll() int {
	g.mu.Lock()
	subs := g.subs
	g.subs = nil
	g.mu.Unlock()
	for _, cancel := range subs {
		cancel()
	}
	return len(subs)
}

func main() { sdk.Serve(func() *Greeter { return &Greeter{} }) }
