package rp_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// hugeJSON is a 20 MB JSON document, over every cap.
var hugeJSON = sync.OnceValue(func() string { return `{"pad":"` + strings.Repeat("a", 20<<20) + `"}` })

// providerCall is one outgoing call of the RP after discovery (which
// discovery_test.go covers): prepare brings the app to the point where the
// next step makes the call, and returns that step, which returns the
// error the app got.
type providerCall struct {
	endpoint string
	edit     func(*rp.Config)
	prepare  func(t *testing.T, a *testApp, clk *clock) (step func() error)
}

// failedCallback returns a step that delivers the callback cb and wants
// it refused with a 400.
func failedCallback(t *testing.T, a *testApp, cb string) func() error {
	return func() error {
		if r := get(t, a.browser.noFollow, cb); r.status != http.StatusBadRequest {
			t.Fatalf("callback: %d, want 400", r.status)
		}
		return a.lastError(t)
	}
}

var providerCalls = map[string]providerCall{
	"JWKS": {endpoint: oidctest.EndpointJWKS, prepare: func(t *testing.T, a *testApp, _ *clock) func() error {
		return failedCallback(t, a, a.callbackURL(t, a.browser, "/"))
	}},
	"token": {endpoint: oidctest.EndpointToken, prepare: func(t *testing.T, a *testApp, _ *clock) func() error {
		return failedCallback(t, a, a.callbackURL(t, a.browser, "/"))
	}},
	"userinfo": {endpoint: oidctest.EndpointUserinfo, edit: func(c *rp.Config) { c.FetchUserinfo = true },
		prepare: func(t *testing.T, a *testApp, _ *clock) func() error {
			return failedCallback(t, a, a.callbackURL(t, a.browser, "/"))
		}},
	"pushed authorization request": {endpoint: oidctest.EndpointPAR, edit: func(c *rp.Config) { c.UsePAR = true },
		prepare: func(t *testing.T, a *testApp, _ *clock) func() error {
			return func() error {
				if r := get(t, a.browser.noFollow, a.app.URL+"/login"); r.status != http.StatusBadGateway {
					t.Fatalf("login: %d, want 502", r.status)
				}
				return a.lastError(t)
			}
		}},
	"token (refresh)": {endpoint: oidctest.EndpointToken, prepare: func(t *testing.T, a *testApp, clk *clock) func() error {
		a.login(t, a.browser, "/")
		clk.Advance(2 * time.Minute) // the access token lives one minute
		return func() error {
			_, err := a.accessToken(t, a.browser)
			if err == nil {
				t.Fatal("AccessToken succeeded")
			}
			return err
		}
	}},
}

// countingTransport counts the response bytes its callers read.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.n}
	}
	return resp, err
}

// TestProviderResponse20MB: a 20 MB answer from any endpoint fails the
// step with an error saying it was too large, after reading about the cap.
func TestProviderResponse20MB(t *testing.T) {
	t.Parallel()
	for name, pc := range providerCalls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			counter := &countingTransport{}
			a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) {
				c.HTTPClient = &http.Client{Transport: counter}
				if pc.edit != nil {
					pc.edit(c)
				}
			}})
			step := pc.prepare(t, a, clk)
			a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{pc.endpoint: {Status: http.StatusOK, Body: hugeJSON()}}})
			counter.n.Store(0)
			err := step()
			if !strings.Contains(err.Error(), "too large") {
				t.Errorf("error %q does not say the response was too large", err)
			}
			// go-oidc keeps only the text of a key set's error.
			if pc.endpoint != oidctest.EndpointJWKS && !errors.Is(err, client.ErrResponseTooLarge) {
				t.Errorf("error %v, want client.ErrResponseTooLarge", err)
			}
			// The step's other calls (token, JWKS) read a few kilobytes.
			if n := counter.n.Load(); n > 1<<20+16<<10 {
				t.Errorf("read %d bytes, want about MaxResponseBytes (1 MiB)", n)
			}
		})
	}
}

// TestProviderSlow: an endpoint that does not answer fails the step at the
// HTTP client's timeout.
func TestProviderSlow(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for name, pc := range providerCalls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) {
				c.HTTPClient = &http.Client{Timeout: timeout}
				if pc.edit != nil {
					pc.edit(c)
				}
			}})
			step := pc.prepare(t, a, clk)
			a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{pc.endpoint: {Delay: time.Minute}}})
			start := time.Now()
			err := step()
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("the step failed after %v, want about %v", d, timeout)
			}
			if msg := err.Error(); !strings.Contains(msg, "Client.Timeout exceeded") && !strings.Contains(msg, "deadline exceeded") {
				t.Errorf("error %q does not say the provider timed out", err)
			}
		})
	}
}

// TestEveryCallHasADeadline: with an HTTPClient that has no Timeout, and
// contexts that have no deadline, every call to the provider is still
// bounded, by at most the default 10 seconds.
func TestEveryCallHasADeadline(t *testing.T) {
	t.Parallel()
	dt := &testenv.DeadlineTransport{Base: http.DefaultTransport}
	a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) {
		c.HTTPClient = &http.Client{Transport: dt}
		c.UsePAR, c.FetchUserinfo = true, true
	}})
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)
	if _, err := a.accessToken(t, b); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	a.toEndSession(t, a.postLogoutRP(t, b))
	for _, path := range []string{"/.well-known/openid-configuration", "/par", "/token", "/jwks", "/userinfo", "/revoke"} {
		switch ahead, ok := dt.Ahead(path); {
		case !ok:
			t.Errorf("%s was not called", path)
		case ahead < 0:
			t.Errorf("%s was called without a deadline", path)
		case ahead > 10*time.Second:
			t.Errorf("%s had %v to go, want at most 10 s", path, ahead)
		}
	}
}

// TestCallbackQueryCap: a GET callback whose query is over 64 KiB is
// refused before its state is looked at, so the login can still complete.
func TestCallbackQueryCap(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	cb := a.callbackURL(t, b, "/")
	if r := get(t, b.noFollow, cb+"&pad="+strings.Repeat("x", 64<<10)); r.status != http.StatusBadRequest {
		t.Fatalf("callback with a 64 KiB query: %d, want 400", r.status)
	}
	if err := a.lastError(t); !strings.Contains(err.Error(), "query longer than") {
		t.Errorf("error %q does not say the query was too long", err)
	}
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatalf("a refused callback reached the token endpoint")
	}
	a.requireNoSession(t, b)
	if r := get(t, b.noFollow, cb); r.status != http.StatusSeeOther {
		t.Fatalf("the genuine callback after the refused one: %d %s", r.status, r.body)
	}
}
