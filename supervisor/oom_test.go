package supervisor

import "testing"

// Every last word the Go runtime throws when the memory limit makes an allocation fail is taken
// for an out-of-memory death: under RLIMIT_DATA most deaths of a driver that grows without bound
// say "cannot allocate memory" (persistentalloc's mmap failed), not "out of memory"; taken for a
// plain exit status 2, they were neither logged as out of memory nor counted.
func TestIsOutOfMemory(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"fatal error: runtime: out of memory",          // mem_linux.go sysMap
		"fatal error: runtime: cannot allocate memory", // malloc.go persistentalloc
		"fatal error: out of memory",                   // mcache.go, stack.go
		"fatal error: out of memory (stackalloc)",      // stack.go
		"fatal error: out of memory allocating heap arena map",
		"runtime: out of memory: cannot allocate 4194304-byte block (134217728 in use)",
	} {
		if !isOutOfMemory([]byte(line)) {
			t.Errorf("%q not taken for out of memory", line)
		}
	}
	for _, line := range []string{
		"fatal error: all goroutines are asleep - deadlock!",
		"panic: runtime error: index out of range [3] with length 3",
		`{"@level":"info","@message":"fatal error: runtime: cannot allocate memory"}`,
		"the device said: fatal error: out of memory",
	} {
		if isOutOfMemory([]byte(line)) {
			t.Errorf("%q taken for out of memory", line)
		}
	}
}
