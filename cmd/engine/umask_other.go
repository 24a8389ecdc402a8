//go:build !unix

package main

// privateUmask has nothing to set where there is no umask; the modes the engine gives its own
// files still apply.
func privateUmask() {}
