// Package exampletest stands in for the *testing.T of a test in the runnable examples of sdk and
// sdk/sdktest: an Example function gets none, and a harness needs one. It exists so that the
// examples run under go test and their output is checked, not only compiled; driver authors
// write the same code in a func TestX(t *testing.T) and never import it.
package exampletest
