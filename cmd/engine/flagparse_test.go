package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/placeos-go/engine/internal/testutil"
)

// TestFlagRefusalsOnce: every subcommand refuses a flag it does not know, or a value a flag does
// not take, with the error once and where the flags are listed (exit 2, nothing on stdout); its
// --help still prints every flag (exit 0).
func TestFlagRefusalsOnce(t *testing.T) {
	t.Parallel()
	bin := testutil.BuildBinary(t, "cmd/engine")
	for _, c := range []struct {
		args    []string
		command string // the FlagSet's name, as the hint names it
		err     string
	}{
		{[]string{"serve", "--driver-memory-limit", "1X"}, "engine serve", `invalid value "1X" for flag --driver-memory-limit`},
		{[]string{"dev", "--nope"}, "engine dev", "flag provided but not defined: --nope"},
		{[]string{"status", "--server"}, "engine status", "flag needs an argument: --server"},
		{[]string{"apply", "--nope"}, "engine apply", "flag provided but not defined: --nope"},
		{[]string{"tls", "init", "--nope"}, "engine tls init", "flag provided but not defined: --nope"},
		{[]string{"secrets", "init", "--nope"}, "engine secrets init", "flag provided but not defined: --nope"},
		{[]string{"new", "driver", "x", "--transport"}, "engine new driver", "flag needs an argument: --transport"},
		{[]string{"serve", "--redis-sweep", "5"}, "engine serve", `invalid value "5" for flag --redis-sweep: want a duration with its unit, such as 90s, 5m or 1h30m, or 0 or off for never`},
		{[]string{"serve", "--exec-timeout", "60"}, "engine serve", `invalid value "60" for flag --exec-timeout: want a duration with its unit, such as 90s, 5m or 1h30m`},
		// Go's own refusal of a true/false flag's value said "parse error" and named the flag with one dash.
		{[]string{"serve", "--driver-spare=no"}, "engine serve", `invalid value "no" for flag --driver-spare: want true or false (or 1, 0): --driver-spare=false`},
		{[]string{"dev", "--voter=yes"}, "engine dev", `invalid value "yes" for flag --voter: want true or false (or 1, 0): --voter=true`},
		{[]string{"serve", "--bootstrap=maybe"}, "engine serve", `invalid value "maybe" for flag --bootstrap: want true or false (or 1, 0)`},
		// Go reads `--driver-spare false` as the flag alone and "false" as an argument.
		{[]string{"serve", "--driver-spare", "false"}, "engine serve", `unexpected argument "false": a true/false flag takes its value after '=', e.g. --driver-spare=false`},
		{[]string{"serve", "extra"}, "engine serve", `unexpected argument "extra"`},
	} {
		name := strings.Join(c.args, " ")
		cmd := exec.Command(bin, c.args...)
		cmd.Dir = t.TempDir()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		hint := "\nrun \"" + c.command + " --help\" for every flag\n"
		errLine, rest, _ := strings.Cut(stderr.String(), "\n")
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.HasPrefix(errLine, "engine: "+c.err) || "\n"+rest != hint || stdout.Len() != 0 {
			t.Errorf("engine %s: exit %d, stderr %q, stdout %q; want exit 2, %q and %q", name, code, stderr.String(), stdout.String(), c.err, hint)
		}

		help := exec.Command(bin, append(strings.Fields(strings.TrimPrefix(c.command, "engine ")), "--help")...)
		help.Dir = t.TempDir()
		out, err := help.Output()
		if err != nil || !bytes.Contains(out, []byte("\n  -")) {
			t.Errorf("%s: %v, output %q; want exit 0 and the flags", strings.Join(help.Args[1:], " "), err, out)
		}
	}
}
