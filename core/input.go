package core

import (
	"unicode/utf8"

	"github.com/placeos-go/engine/call"
	"github.com/placeos-go/engine/errkind"
	"github.com/placeos-go/engine/jsonscan"
)

// checkInput refuses an execute whose identifiers or arguments no driver should see, before
// anything is resolved, looked up, logged or sent: an identifier longer than
// call.MaxIdentifierBytes or not UTF-8 (400 bad_request), arguments that are not UTF-8 (400
// parse_error: encoding/json passes invalid bytes inside a string, and they would reach the
// other driver, its answers and the logs). It is part of Execute, so a REST request, a WebSocket
// exec, a driver's call of another module and a call another node forwards are held to the same
// rule. It costs a length compare per identifier and one UTF-8 scan of the arguments, and
// allocates only when it refuses.
func checkInput(req call.Request) error {
	if err := checkTarget(req.Target); err != nil {
		return err
	}
	if err := call.CheckIdentifier("the function name", req.Function); err != nil {
		return err
	}
	if !utf8.Valid(req.Args) {
		return errkind.Wrap(ErrMalformedArgs, nil, "arguments: %v", jsonscan.CheckText(req.Args))
	}
	return nil
}

// checkTarget refuses a target whose ids or module name break call.CheckIdentifier; the words
// are those of the REST path check (httpapi/ident.go), so a caller reads the same refusal
// whichever way it came in.
func checkTarget(t call.Target) error {
	if err := call.CheckIdentifier("the module id", t.ModuleID); err != nil {
		return err
	}
	if err := call.CheckIdentifier("the system id", t.SystemID); err != nil {
		return err
	}
	return call.CheckIdentifier("the module", t.Name)
}
