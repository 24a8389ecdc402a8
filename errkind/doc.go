// Package errkind names the kinds of failure that callers in other packages must tell apart.
//
// Each package keeps its own sentinel errors (in its errors.go) and wraps one of these kinds, so
// that the one place that maps errors to responses (httpapi) can classify any error with
// errors.Is without importing the package that produced it:
//
//	var ErrProcessExited = errkind.New(errkind.Unavailable, "driver process exited")
package errkind
