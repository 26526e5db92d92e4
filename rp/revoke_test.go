package rp_test

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// postLogoutRP posts /logout from b as the app's own page does.
func (a *testApp) postLogoutRP(t testing.TB, b *browser) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	return do(t, b.noFollow, req)
}

// toEndSession checks that r redirects to the provider's end_session.
func (a *testApp) toEndSession(t testing.TB, r response) {
	t.Helper()
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, a.op.Issuer+"/end_session?") {
		t.Fatalf("POST /logout: %d %q, want 303 to end_session", r.status, r.location)
	}
}

// TestLogoutRevokes: logout revokes the refresh and access tokens at the
// provider, so the refresh token no longer works.
func TestLogoutRevokes(t *testing.T) {
	t.Parallel()
	spy := &tokenSpy{}
	a := newApp(t, appConfig{faults: oidctest.Faults{TokenResponse: spy.record}})
	b := a.browser
	a.login(t, b, "/")
	rt, at := spy.last(t, "refresh_token"), spy.last(t, "access_token")
	a.toEndSession(t, a.postLogoutRP(t, b))
	a.requireNoSession(t, b)

	got := map[string]string{}
	for _, r := range a.op.Requests(oidctest.EndpointRevoke) {
		got[r.Form.Get("token_type_hint")] = r.Form.Get("token")
	}
	if len(got) != 2 || got["refresh_token"] != rt || got["access_token"] != at {
		t.Fatalf("revocation requests: %v, want the refresh and the access token", got)
	}
	if _, err := a.rp.Client().Refresh(t.Context(), rt); !errors.Is(err, client.ErrInvalidGrant) {
		t.Fatalf("refresh with the revoked refresh token: %v, want invalid_grant", err)
	}
}

// TestLogoutRevocationFails: the logout goes on, quickly, whatever the
// revocation endpoint does.
func TestLogoutRevocationFails(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		failure oidctest.Failure
	}{
		{"500", oidctest.Failure{Status: http.StatusInternalServerError, Body: `{"error":"server_error"}`}},
		{"unsupported_token_type", oidctest.Failure{Status: http.StatusBadRequest, Body: `{"error":"unsupported_token_type"}`}},
		{"not JSON", oidctest.Failure{Status: http.StatusBadGateway, Body: "<html>", ContentType: "text/html"}},
		{"hangs", oidctest.Failure{Delay: time.Minute}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, appConfig{faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointRevoke: tt.failure}}})
			b := a.browser
			a.login(t, b, "/")
			start := time.Now()
			a.toEndSession(t, a.postLogoutRP(t, b))
			if d := time.Since(start); d > 6*time.Second {
				t.Fatalf("logout took %v", d)
			}
			a.requireNoSession(t, b)
			if n := a.count(oidctest.EndpointRevoke); n != 2 {
				t.Fatalf("revocation requests: %d, want 2", n)
			}
		})
	}
}

// TestLogoutWithoutRevocation: a provider without revocation_endpoint is
// not asked to revoke.
func TestLogoutWithoutRevocation(t *testing.T) {
	t.Parallel()
	log := &errorLog{}
	a := newApp(t, appConfig{
		faults: oidctest.Faults{Discovery: func(d map[string]any) { delete(d, "revocation_endpoint") }},
		edit:   func(c *rp.Config) { c.Logger = slog.New(log) },
	})
	b := a.browser
	a.login(t, b, "/")
	a.toEndSession(t, a.postLogoutRP(t, b))
	a.requireNoSession(t, b)
	if n := a.count(oidctest.EndpointRevoke); n != 0 {
		t.Fatalf("revocation requests: %d", n)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.errs) != 0 {
		t.Fatalf("errors logged: %v", log.errs)
	}
}

// TestLogoutEndsCopies: a copy of the session's cookies taken before
// logout is refused after it (the sid is on the logout list), while a
// login afterwards in the same provider session works.
func TestLogoutEndsCopies(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{faults: oidctest.Faults{Discovery: func(d map[string]any) { delete(d, "end_session_endpoint") }}})
	b := a.browser
	a.login(t, b, "/")
	sid := a.sidOf(t, b)
	thief := newBrowser(t)
	a.setCookies(thief, a.cookiesOf(b))
	a.whoami(t, thief)

	if r := a.postLogoutRP(t, b); r.status != http.StatusSeeOther {
		t.Fatalf("POST /logout: %d", r.status)
	}
	a.requireNoSession(t, thief)

	// Without end_session the provider session lives on: the same sid,
	// in a newer session.
	a.login(t, b, "/")
	if got := a.sidOf(t, b); got != sid {
		t.Fatalf("sid %q, want %q", got, sid)
	}
}
