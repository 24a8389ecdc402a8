// Package httpwire holds the conventions every HTTP route of the engine shares, whether it serves
// clients (package httpapi) or other nodes (package peer): the base paths, request ids, the error
// body and how an error becomes one (through errkind.Classify, the one error mapping), and reading
// bodies and the ?timeout= parameter.
package httpwire
