// Package e2e holds the end-to-end tests: the real `engine` binary, a real redis-server, real
// driver processes built from examples/ and internal/testdriver, and real HTTP clients. It has
// no non-test code beyond this file.
package e2e
