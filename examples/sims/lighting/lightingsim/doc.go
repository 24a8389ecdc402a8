// Package lightingsim is an HTTP/JSON lighting gateway simulator: the service the example
// lighting driver talks to. Tests use it in-process; the folder above builds it as a binary.
//
//	GET  /api/zones/{id}           -> {"id":"1","level":0,"on":false}
//	PUT  /api/zones/{id}  {"level":n, "on":bool}  -> the new zone (fields are optional)
//
// Levels are 0-100; anything else is a 400. Unknown zones are 404. With a password set every
// request needs basic auth (any user).
package lightingsim
