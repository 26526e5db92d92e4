package rp_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// TestIssParameter applies RFC 9207 to the authorization response.
func TestIssParameter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		response     func(url.Values)
		notAdvertise bool
		want         error // nil: the login succeeds
	}{
		{name: "another issuer", response: func(p url.Values) { p.Set("iss", "https://evil.example") }, want: rp.ErrIssuerMismatch},
		{name: "issuer with a trailing slash", response: func(p url.Values) { p.Set("iss", p.Get("iss")+"/") }, want: rp.ErrIssuerMismatch},
		{name: "repeated", response: func(p url.Values) { p.Add("iss", p.Get("iss")) }, want: client.ErrMalformedResponse},
		{name: "missing while advertised", response: func(p url.Values) { p.Del("iss") }, want: client.ErrIssuerMissing},
		{name: "missing, not advertised", response: func(p url.Values) { p.Del("iss") }, notAdvertise: true},
		{name: "wrong, not advertised", response: func(p url.Values) { p.Set("iss", "https://evil.example") }, notAdvertise: true, want: rp.ErrIssuerMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := oidctest.Faults{AuthorizationResponse: tt.response}
			if tt.notAdvertise {
				f.Discovery = func(d map[string]any) { delete(d, "authorization_response_iss_parameter_supported") }
			}
			a := newApp(t, appConfig{faults: f})
			b := a.browser
			cb := a.callbackURL(t, b, "/")
			if tt.want == nil {
				if r := get(t, b.noFollow, cb); r.status != http.StatusSeeOther {
					t.Fatalf("callback: %d %s", r.status, r.body)
				}
				a.whoami(t, b)
				return
			}
			a.refused(t, b, cb, http.StatusBadRequest, tt.want)
			if n := a.count(oidctest.EndpointToken, oidctest.EndpointUserinfo); n != 0 {
				t.Fatalf("%d token or userinfo requests after a refused iss", n)
			}
		})
	}
}

// TestProviderError sends error responses back from the provider.
func TestProviderError(t *testing.T) {
	t.Parallel()
	const xss = "<script>alert(1)</script>"
	tests := []struct {
		name      string
		code      string
		state     string // "" keeps the login's state
		status    int
		want      error
		defaultUI bool // render with the RP's default error page
	}{
		{name: "error_description is escaped", code: "invalid_scope", status: http.StatusBadRequest, defaultUI: true},
		{name: "access_denied", code: "access_denied", status: http.StatusForbidden, want: &client.AuthError{}},
		{name: "access_denied, default page", code: "access_denied", status: http.StatusForbidden, defaultUI: true},
		{name: "wrong state wins", code: "access_denied", state: "forged", status: http.StatusBadRequest, want: rp.ErrStateMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, appConfig{
				faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) {
					p.Del("code")
					p.Set("error", tt.code)
					p.Set("error_description", xss)
					if tt.state != "" {
						p.Set("state", tt.state)
					}
				}},
				edit: func(c *rp.Config) {
					if tt.defaultUI {
						c.ErrorPage = nil
					}
				},
			})
			b := a.browser
			r := get(t, b.noFollow, a.callbackURL(t, b, "/"))
			if r.status != tt.status {
				t.Fatalf("callback: %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.defaultUI {
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Fatalf("error page Content-Type %q", ct)
				}
				if strings.Contains(r.body, "<script>") || !strings.Contains(r.body, "&lt;script&gt;") {
					t.Fatalf("error page does not escape the provider's words:\n%s", r.body)
				}
			}
			var ae *client.AuthError
			switch {
			case tt.want == nil:
			case errors.As(tt.want, &ae):
				if err := a.lastError(t); !errors.As(err, &ae) || ae.Code != tt.code {
					t.Fatalf("callback error %v, want an AuthError %s", err, tt.code)
				}
			case !errors.Is(a.lastError(t), tt.want):
				t.Fatalf("callback error %v, want %v", a.lastError(t), tt.want)
			}
			a.requireNoSession(t, b)
			if n := a.count(oidctest.EndpointToken, oidctest.EndpointUserinfo); n != 0 {
				t.Fatalf("%d token or userinfo requests after an error response", n)
			}
		})
	}
}

func TestCallbackWithoutCode(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Del("code") }}})
	b := a.browser
	a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, client.ErrMalformedResponse)
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatal("a response without code reached the token endpoint")
	}
}
