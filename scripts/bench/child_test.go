package bench

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// child is this test binary re-run as a process of its own, running one Test…Process function
// (the bare proxy, the bare forwarder, a process of WebSocket clients): a baseline or a load that
// must not share the benchmark's runtime. It takes its orders on stdin and answers on stdout, one
// line each; closing stdin tells it to end.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	// stop closes stdin and waits for the process to end (killing it after 20 s); again, it
	// does nothing. The benchmark's cleanup calls it too.
	stop func()
}

// startChild runs test (the name of a Test…Process function) with env added to the environment.
func startChild(b *testing.B, test string, env ...string) *child {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	c.stop = sync.OnceFunc(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill() // a driver it started exits with it (plugin.Serve watches its parent)
			<-done
		}
	})
	b.Cleanup(c.stop)
	return c
}

// line is the rest of the child's next output line that starts with prefix; go test's own lines
// come only at the end.
func (c *child) line(b *testing.B, prefix string) string {
	b.Helper()
	for c.out.Scan() {
		if v, ok := strings.CutPrefix(c.out.Text(), prefix); ok {
			return v
		}
	}
	b.Fatalf("%s ended: %v", c.cmd.Args[1], errors.Join(c.out.Err(), io.ErrUnexpectedEOF))
	return ""
}
