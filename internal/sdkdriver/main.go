// Command sdkdriver is a minimal driver built on sdk, for tests that need the SDK's behaviour in
// a real process (request ids on the driver's log lines). Functions:
//
//	greet(name)   logs "greeting" at info through sdk.Log(ctx) and returns "hello <name>"
//	fail()        returns an error
//	raise(code, class)  returns an *sdk.Error with that code and class
package main

import (
	"context"
	"errors"

	"github.com/placeos-go/engine/sdk"
)

// Greeter is the driver value of one module.
type Greeter struct{ sdk.Base }

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
	Code  int    `json:"code"`
	Class string `json:"class"`
}

// Raise fails with the code and class it is asked for.
func (g *Greeter) Raise(a RaiseArgs) error {
	return &sdk.Error{Status: a.Code, Kind: a.Class, Err: errors.New("raised on purpose")}
}

func main() { sdk.Serve(func() *Greeter { return &Greeter{} }) }
