package browsertest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package installs the browser.
const Path = "/usr/bin/chromium"

// installHint is the message a test fails with when Chromium is missing.
const installHint = "chromium not found at " + Path + ": install it with `apt-get install -y chromium` " +
	"(or run `make test`, which installs it when run as root)"

// Browser is one headless Chromium, owned by one test.
type Browser struct {
	// Ctx runs chromedp actions in the browser's first tab.
	Ctx     context.Context
	profile string
}

// Start launches Chromium, fails t (never skips) when it is not installed, and stops it, with
// every process it started, when the test ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatal(installHint)
	}
	b := &Browser{profile: t.TempDir()}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path),
		chromedp.UserDataDir(b.profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(1100, 900),
		// No traffic of the browser's own: no QUIC, updates, sync or field trials.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			// Its own group, so that the group can be killed as one; and killed by the kernel if
			// the test binary dies first.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	b.Ctx = ctx
	t.Cleanup(func() {
		pid := 0
		if c := chromedp.FromContext(ctx); c != nil && c.Browser != nil {
			if p := c.Browser.Process(); p != nil {
				pid = p.Pid
			}
		}
		cancelTab()
		cancelAlloc()
		if pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
		if left := b.waitGone(10 * time.Second); len(left) > 0 {
			t.Errorf("chromium processes left after the test: %v", left)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium (%s): %v", Path, err)
	}
	return b
}

// waitGone kills whatever still runs with this browser's profile (a child that left the group)
// until none is left or within has passed, and returns those still running then.
func (b *Browser) waitGone(within time.Duration) []int {
	deadline := time.Now().Add(within)
	for {
		left := b.processes()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processes lists the live processes started with this browser's profile (every Chromium
// process carries --user-data-dir on its command line).
func (b *Browser) processes() []int {
	want := []byte("--user-data-dir=" + b.profile)
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, want) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
				continue // exited, not reaped yet
			}
		}
		out = append(out, pid)
	}
	return out
}

// Do runs actions in the browser, failing t with what the page shows when one fails.
func (b *Browser) Do(t testing.TB, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		t.Fatalf("%s: %v\npage text:\n%s", what, err, b.Text())
	}
}

// WaitFor evaluates the JavaScript expression js in the page until it is true, failing t after
// within with what the page shows. An evaluation that fails (the page is navigating, so its
// context is gone) is tried again.
func (b *Browser) WaitFor(t testing.TB, within time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.Ctx, time.Until(deadline))
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	if last == nil {
		last = errors.New("still false after " + within.String())
	}
	t.Fatalf("%s: %v\npage text:\n%s", what, last, b.Text())
}

// Eval evaluates the JavaScript expression js (awaiting a promise) and answers its value.
func Eval[T any](t testing.TB, b *Browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v\npage text:\n%s", js, err, b.Text())
	}
	return v
}

// Text is the page's visible text, for failure messages.
func (b *Browser) Text() string {
	ctx, cancel := context.WithTimeout(b.Ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// Screenshot saves the whole page as dir/name.png.
func (b *Browser) Screenshot(t testing.TB, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100)) // 100 is PNG; less is JPEG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
