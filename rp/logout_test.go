package rp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

func TestLogoutMethod(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	a.login(t, a.browser, "/")
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
		req, _ := http.NewRequest(method, a.app.URL+"/logout", nil)
		r := do(t, a.browser.noFollow, req)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost {
			t.Errorf("%s /logout: %d Allow %q, want 405 Allow POST", method, r.status, r.header.Get("Allow"))
		}
	}
	a.whoami(t, a.browser) // still logged in
}

// TestLogoutCrossOrigin: another site cannot log the user out.
func TestLogoutCrossOrigin(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	a.login(t, a.browser, "/")
	for _, h := range []map[string]string{
		{"Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if r := do(t, a.browser.noFollow, req); r.status != http.StatusForbidden {
			t.Errorf("POST /logout with %v: %d, want 403", h, r.status)
		}
	}
	a.whoami(t, a.browser) // still logged in
	if n := a.count(oidctest.EndpointEndSession); n != 0 {
		t.Fatalf("end_session requests = %d", n)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		header map[string]string
	}{
		{"Origin", map[string]string{"Origin": "APP"}},
		{"Sec-Fetch-Site same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"no browser headers", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, oidctest.Config{}, nil)
			b := a.browser
			a.login(t, b, "/")
			req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
			for k, v := range tt.header {
				req.Header.Set(k, strings.ReplaceAll(v, "APP", a.app.URL))
			}
			r := do(t, b.noFollow, req)
			if r.status != http.StatusSeeOther {
				t.Fatalf("POST /logout: %d %s", r.status, r.body)
			}
			loc, err := url.Parse(r.location)
			if err != nil {
				t.Fatal(err)
			}
			q := loc.Query()
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != a.op.Issuer+"/end_session" {
				t.Fatalf("redirected to %s, want the end_session_endpoint", got)
			}
			if q.Get("id_token_hint") == "" || q.Get("client_id") != "app" || q.Get("post_logout_redirect_uri") != a.app.URL+"/" {
				t.Fatalf("end_session parameters: %v", q)
			}
			if sub := jwtClaims(t, q.Get("id_token_hint"))["sub"]; sub != "ada" {
				t.Fatalf("id_token_hint is not the user's ID token (sub %v)", sub)
			}
			a.requireNoSession(t, b)
			// The provider accepts the request.
			if r := get(t, b.noFollow, r.location); r.status != http.StatusFound || r.location != a.app.URL+"/" {
				t.Fatalf("end_session: %d %q", r.status, r.location)
			}
		})
	}
}

// TestLogoutWithoutEndSession: a provider without end_session_endpoint;
// the session still ends and the user lands on "/".
func TestLogoutWithoutEndSession(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{faults: oidctest.Faults{Discovery: func(d map[string]any) { delete(d, "end_session_endpoint") }}})
	b := a.browser
	a.login(t, b, "/")
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	if r := do(t, b.noFollow, req); r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("POST /logout: %d %q, want 303 to /", r.status, r.location)
	}
	a.requireNoSession(t, b)
}

// TestLogoutWithoutSession: logging out twice, or never logged in, still
// redirects without an id_token_hint.
func TestLogoutWithoutSession(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) { c.PostLogoutRedirectURL = "" })
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	r := do(t, a.browser.noFollow, req)
	loc, _ := url.Parse(r.location)
	if r.status != http.StatusSeeOther || loc.Query().Has("id_token_hint") || loc.Query().Has("post_logout_redirect_uri") {
		t.Fatalf("POST /logout without a session: %d %q", r.status, r.location)
	}
}
