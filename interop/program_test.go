package interop

import (
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
)

// examples/service and examples/cli are programs that do their work and exit,
// unlike the servers runExample runs: these helpers run them to their end,
// watch their stderr while they run, and return how they exited.

// program is a running one-shot example program.
type program struct {
	name           string
	stdout, stderr *testenv.Buffer
	done           chan struct{} // closed when it has exited
	err            error         // how it exited; read after done
}

// startProgram runs bin with args in the environment vars (added to ours, less
// the examples contract's settings; see webappEnv). It is stopped in
// t.Cleanup if it still runs: SIGTERM, then a kill after stopTimeout. A data
// race it reports fails the test; its output is shown when the test failed.
func startProgram(t testing.TB, name, bin string, args []string, vars map[string]string) *program {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = webappEnv(vars)
	p := &program{name: name, stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.WaitDelay = stopTimeout
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopTimeout):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if strings.Contains(p.stderr.String(), "DATA RACE") {
			t.Errorf("interop: %s reported a data race", name)
		}
		if t.Failed() {
			t.Logf("interop: %s stdout:\n%s\nstderr:\n%s", name, p.stdout.String(), p.stderr.String())
		}
	})
	return p
}

// awaitStderr returns the submatches of the first match of re in the
// program's stderr, waiting up to timeout for it to be written. It fails the
// test if the program exits or the time passes first.
func (p *program) awaitStderr(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.done:
			if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
				return m
			}
			t.Fatalf("interop: %s exited (%v) before writing %s to stderr:\n%s", p.name, p.err, re, p.stderr.String())
		case <-deadline:
			t.Fatalf("interop: %s wrote nothing matching %s to stderr within %v:\n%s", p.name, re, timeout, p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait waits up to timeout for the program to exit and returns how it did
// (nil for exit status 0). It fails the test if the program is still
// running then.
func (p *program) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("interop: %s still running after %v", p.name, timeout)
		return nil
	}
}

// lines returns the program's stdout, line by line.
func (p *program) lines() []string {
	return strings.Split(strings.TrimSpace(p.stdout.String()), "\n")
}
