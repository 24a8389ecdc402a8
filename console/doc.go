// Package console is the operator console: a web page served by every node at /console, its
// files embedded in the binary (go:embed), so a node needs no separate deployment and no internet.
//
// The files under web/ are plain HTML, one small stylesheet and vanilla JavaScript modules, as
// written: no framework, no npm, no build step. That keeps the two-command set-up (nothing to
// install, no bundle to reproduce from a lock file) and the page small enough for a phone; the
// console is a handful of lists and forms, which the DOM API does without a framework's weight.
//
// The files hold no data and need no credentials (the router serves /console as an open route).
// Everything the page shows comes from the engine's REST and WebSocket API, called with the
// credential the operator typed in (an API key or a bearer token, kept in sessionStorage and sent
// in a header; on the WebSocket as the query parameter PlaceOS front-ends use). So the console can
// never show or do more than the API allows its caller, and it needs no cookie: a foreign page
// cannot make the browser act with a credential it adds by itself (docs/security.md).
//
// Handler serves the files with a strict Content-Security-Policy (scripts and styles from the
// node itself only, no inline script, no framing), no-referrer, nosniff, and an ETag per file so a
// reload costs a 304.
package console
