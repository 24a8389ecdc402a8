// Package enginetest holds what the end-to-end, benchmark and chaos tests share for running
// real `engine serve` processes: loopback addresses, log capture, starting and stopping an
// engine (checking that its driver processes go with it) and decoding the cluster and
// placement endpoints. It is imported only from _test.go files.
package enginetest
