package testenv

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// LeakCheck finds goroutines that run some functions and were started after
// it was made, so that a test can require them to end. Tests using it must
// not run in parallel with tests calling the same functions.
type LeakCheck struct {
	frames []string
	before map[string]string
}

// NewLeakCheck notes the goroutines whose stack holds one of frames
// (substrings of function names, such as "keyway/client.(*TokenSource)").
func NewLeakCheck(frames ...string) *LeakCheck {
	return &LeakCheck{frames: frames, before: goroutinesIn(frames...)}
}

// Started returns the stacks of the goroutines running the frames that
// started since NewLeakCheck, by goroutine ID.
func (lc *LeakCheck) Started() map[string]string {
	gs := goroutinesIn(lc.frames...)
	for id := range lc.before {
		delete(gs, id)
	}
	return gs
}

// Ended fails t unless every goroutine started since NewLeakCheck ends
// within d.
func (lc *LeakCheck) Ended(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := lc.Started()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, g := range left {
				t.Errorf("goroutine still running after %v:\n%s", d, g)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// goroutinesIn returns the stacks of the goroutines other than the
// caller's whose stack holds one of frames, by goroutine ID.
func goroutinesIn(frames ...string) map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller's own goroutine comes first
		}
		header, _, _ := strings.Cut(g, "\n") // goroutine 12 [chan receive]:
		fields := strings.Fields(header)
		if len(fields) < 2 {
			continue
		}
		for _, f := range frames {
			if strings.Contains(g, f) {
				out[fields[1]] = g
				break
			}
		}
	}
	return out
}
