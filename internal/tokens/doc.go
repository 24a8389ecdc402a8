// Package tokens is the token bucket behind the engine's rate limits: a driver's status writes
// and driver-to-driver calls (core) and a driver process's log lines (supervisor). One bucket
// type, so every limit refills, bursts and answers "how long until the next" the same way.
package tokens
