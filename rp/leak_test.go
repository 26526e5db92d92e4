package rp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// The leak tests are not parallel: they count the goroutines running this
// package's code, which another test's requests would add to.

// rpFrames names every function of package rp in a stack.
const rpFrames = "keyway/rp."

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

// leakCheck counts the goroutines running some functions, apart from those
// that ran them when it was made.
type leakCheck struct {
	frames []string
	before map[string]string
}

// newLeakCheck notes the goroutines running frames now.
func newLeakCheck(frames ...string) *leakCheck {
	return &leakCheck{frames: frames, before: goroutinesIn(frames...)}
}

// started returns the goroutines running the frames that started since.
func (lc *leakCheck) started() map[string]string {
	gs := goroutinesIn(lc.frames...)
	for id := range lc.before {
		delete(gs, id)
	}
	return gs
}

// ended fails t unless every goroutine started since ends within d.
func (lc *leakCheck) ended(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := lc.started()
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

// TestRPLeavesNoGoroutine: New starts no goroutine, and a login (with
// PAR, JWKS and userinfo), a refresh and a logout (with revocation) leave
// none behind.
func TestRPLeavesNoGoroutine(t *testing.T) {
	lc := newLeakCheck(rpFrames)
	a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) { c.UsePAR, c.FetchUserinfo = true, true }})
	if gs := lc.started(); len(gs) != 0 {
		t.Errorf("New started %d goroutines", len(gs))
	}
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)
	if _, err := a.accessToken(t, b); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	a.toEndSession(t, a.postLogoutRP(t, b))
	lc.ended(t, time.Second)
}

// TestAbandonedRefreshEnds: a refresh runs on for the other requests of
// the session when its caller leaves, but ends at the HTTP client's
// timeout when the provider does not answer.
func TestAbandonedRefreshEnds(t *testing.T) {
	const timeout = 300 * time.Millisecond
	a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) { c.HTTPClient = &http.Client{Timeout: timeout} }})
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: time.Minute}}})
	lc := newLeakCheck(rpFrames)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a.rp.AccessToken(httptest.NewRecorder(), a.requestWithCookies(t, b, http.MethodGet, "/").WithContext(ctx)); err == nil {
		t.Fatal("AccessToken succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("AccessToken returned %v after its request ended", d)
	}
	if len(lc.started()) == 0 {
		t.Error("no refresh goroutine seen while the refresh was under way")
	}
	lc.ended(t, timeout+2*time.Second)
}

// TestAbandonedCallbackEnds: a callback whose browser left while the
// JWKS endpoint hangs ends at the HTTP client's timeout.
func TestAbandonedCallbackEnds(t *testing.T) {
	const timeout = 300 * time.Millisecond
	a := newApp(t, appConfig{edit: func(c *rp.Config) { c.HTTPClient = &http.Client{Timeout: timeout} }})
	cb := a.callbackURL(t, a.browser, "/")
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: {Delay: time.Minute}}})
	lc := newLeakCheck(rpFrames)
	impatient := &http.Client{Jar: a.browser.jar, Timeout: 100 * time.Millisecond}
	if resp, err := impatient.Get(cb); err == nil {
		resp.Body.Close()
		t.Fatalf("the callback answered %s while the JWKS endpoint hangs", resp.Status)
	}
	if len(lc.started()) == 0 {
		t.Error("no callback goroutine seen while the JWKS fetch was under way")
	}
	lc.ended(t, timeout+2*time.Second)
}

// TestLogoutWithHangingRevocationEnds: the revocation requests of a logout
// end with it, within its 3 seconds.
func TestLogoutWithHangingRevocationEnds(t *testing.T) {
	a := newApp(t, appConfig{faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointRevoke: {Delay: time.Minute}}}})
	b := a.browser
	a.login(t, b, "/")
	lc := newLeakCheck(rpFrames)
	a.toEndSession(t, a.postLogoutRP(t, b))
	lc.ended(t, time.Second)
}
