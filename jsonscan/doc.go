// Package jsonscan reads JSON text in place, for the hot paths that only need to look at a request
// (core's argument checks, the WebSocket request parser): the top-level values of an array or
// object as sub-slices of the text, and the plain strings and integers among them, without
// decoding into Go values and so without allocating. Anything it does not read plainly (escapes,
// invalid UTF-8, numbers that are not plain integers) is left to encoding/json by the caller, so
// that the answers stay encoding/json's.
//
// The text must be valid JSON before it is read: Check says whether it is, and when it is not,
// what is wrong and at which byte offset (SyntaxError), as every place that reads a caller's
// arguments answers it (REST, the WebSocket, core's argument checks, the SDK's binding). CheckText
// also requires UTF-8 (RFC 8259), which encoding/json does not inside strings: the client API
// checks what clients send with it.
package jsonscan
