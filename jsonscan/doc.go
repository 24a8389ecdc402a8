// Package jsonscan reads JSON text in place, for the hot paths that only need to look at a request
// (core's argument checks, the WebSocket request parser): the top-level values of an array or
// object as sub-slices of the text, and the plain strings and integers among them, without
// decoding into Go values and so without allocating. Anything it does not read plainly (escapes,
// invalid UTF-8, numbers that are not plain integers) is left to encoding/json by the caller, so
// that the answers stay encoding/json's.
//
// The text must be valid JSON (json.Valid) before it is read: nothing here checks it.
package jsonscan
