package rp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// The leak tests are not parallel: they count the goroutines running this
// package's code, which another test's requests would add to.

// rpFrames names every function of package rp in a stack.
const rpFrames = "keyway/rp."

// TestRPLeavesNoGoroutine: New starts no goroutine, and a login (with
// PAR, JWKS and userinfo), a refresh and a logout (with revocation) leave
// none behind.
func TestRPLeavesNoGoroutine(t *testing.T) {
	lc := testenv.NewLeakCheck(rpFrames)
	a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) { c.UsePAR, c.FetchUserinfo = true, true }})
	if gs := lc.Started(); len(gs) != 0 {
		t.Errorf("New started %d goroutines", len(gs))
	}
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)
	if _, err := a.accessToken(t, b); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	a.toEndSession(t, a.postLogoutRP(t, b))
	lc.Ended(t, time.Second)
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
	lc := testenv.NewLeakCheck(rpFrames)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a.rp.AccessToken(httptest.NewRecorder(), a.requestWithCookies(t, b, http.MethodGet, "/").WithContext(ctx)); err == nil {
		t.Fatal("AccessToken succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("AccessToken returned %v after its request ended", d)
	}
	if len(lc.Started()) == 0 {
		t.Error("no refresh goroutine seen while the refresh was under way")
	}
	lc.Ended(t, timeout+2*time.Second)
}

// TestAbandonedCallbackEnds: a callback whose browser left while the
// JWKS endpoint hangs ends at the HTTP client's timeout.
func TestAbandonedCallbackEnds(t *testing.T) {
	const timeout = 300 * time.Millisecond
	a := newApp(t, appConfig{edit: func(c *rp.Config) { c.HTTPClient = &http.Client{Timeout: timeout} }})
	cb := a.callbackURL(t, a.browser, "/")
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: {Delay: time.Minute}}})
	lc := testenv.NewLeakCheck(rpFrames)
	impatient := &http.Client{Jar: a.browser.jar, Timeout: 100 * time.Millisecond}
	if resp, err := impatient.Get(cb); err == nil {
		resp.Body.Close()
		t.Fatalf("the callback answered %s while the JWKS endpoint hangs", resp.Status)
	}
	if len(lc.Started()) == 0 {
		t.Error("no callback goroutine seen while the JWKS fetch was under way")
	}
	lc.Ended(t, timeout+2*time.Second)
}

// TestLogoutWithHangingRevocationEnds: the revocation requests of a logout
// end with it, within its 3 seconds.
func TestLogoutWithHangingRevocationEnds(t *testing.T) {
	a := newApp(t, appConfig{faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointRevoke: {Delay: time.Minute}}}})
	b := a.browser
	a.login(t, b, "/")
	lc := testenv.NewLeakCheck(rpFrames)
	a.toEndSession(t, a.postLogoutRP(t, b))
	lc.Ended(t, time.Second)
}
