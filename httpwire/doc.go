// Package httpwire holds the conventions every HTTP route of the engine shares, whether it serves
// clients (package httpapi) or other nodes (package peer): the base paths, request ids, the error
// body and how an error becomes one (through errkind.Classify, the one error mapping), reading
// bodies and the ?timeout= parameter, the router both route families are served by (Router, on
// net/http's ServeMux), the request context that carries a request's id and caller in one
// allocation (Context), and how both servers log their failed accepts (AcceptLog,
// ServerErrorLog: WARN, at most a line per 10 s with a count).
package httpwire
