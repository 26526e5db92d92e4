package oidctest_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

func TestRequests(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration?x=1")
	form := clientCredentialsForm()
	form.Set("scope", "read")
	post(t, srv, "/token", appAuth, form)
	get(t, srv.Client(), srv.Issuer+"/nope")

	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("Requests() has %d requests, want 3", len(reqs))
	}
	want := []struct {
		endpoint, method, path string
		form                   url.Values
	}{
		{oidctest.EndpointDiscovery, http.MethodGet, "/.well-known/openid-configuration", url.Values{"x": {"1"}}},
		{oidctest.EndpointToken, http.MethodPost, "/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}},
		{"", http.MethodGet, "/nope", url.Values{}},
	}
	for i, w := range want {
		r := reqs[i]
		if r.Endpoint != w.endpoint || r.Method != w.method || r.URL.Path != w.path || r.Form.Encode() != w.form.Encode() {
			t.Errorf("request %d = %s %s %s %v, want %s %s %s %v", i, r.Endpoint, r.Method, r.URL.Path, r.Form, w.endpoint, w.method, w.path, w.form)
		}
		if !r.Time.Equal(clk.Now()) {
			t.Errorf("request %d at %v, want %v", i, r.Time, clk.Now())
		}
	}
	if reqs[1].Header.Get("Authorization") == "" {
		t.Error("token request recorded without its Authorization header")
	}

	if got := srv.Requests(oidctest.EndpointToken); len(got) != 1 || got[0].Endpoint != oidctest.EndpointToken {
		t.Errorf("Requests(token) = %v, want the token request", got)
	}
	if got := srv.Requests(oidctest.EndpointToken, oidctest.EndpointDiscovery); len(got) != 2 {
		t.Errorf("Requests(token, discovery) has %d requests, want 2", len(got))
	}
	if got := srv.Requests(oidctest.EndpointUserinfo); len(got) != 0 {
		t.Errorf("Requests(userinfo) = %v, want none", got)
	}

	srv.ResetRequests()
	if got := srv.Requests(); len(got) != 0 {
		t.Errorf("after ResetRequests: %d requests", len(got))
	}
	get(t, srv.Client(), srv.Issuer+"/jwks")
	if got := srv.Requests(); len(got) != 1 || got[0].Endpoint != oidctest.EndpointJWKS {
		t.Errorf("after ResetRequests and one request: %v", got)
	}
}

func TestRequestsNameEveryEndpoint(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{IssuerPath: "/t"})
	paths := map[string]string{
		"/t/.well-known/openid-configuration":       oidctest.EndpointDiscovery,
		"/.well-known/oauth-authorization-server/t": oidctest.EndpointDiscovery,
		"/t/jwks":        oidctest.EndpointJWKS,
		"/t/authorize":   oidctest.EndpointAuthorize,
		"/t/login":       oidctest.EndpointLogin,
		"/t/token":       oidctest.EndpointToken,
		"/t/userinfo":    oidctest.EndpointUserinfo,
		"/t/end_session": oidctest.EndpointEndSession,
		"/t/revoke":      oidctest.EndpointRevoke,
		"/t/introspect":  oidctest.EndpointIntrospect,
		"/t/par":         oidctest.EndpointPAR,
	}
	for path, endpoint := range paths {
		t.Run(path, func(t *testing.T) {
			srv.ResetRequests()
			get(t, srv.Client(), srv.URL+path)
			if got := srv.Requests(); len(got) != 1 || got[0].Endpoint != endpoint {
				t.Errorf("GET %s recorded as %v, want %s", path, got, endpoint)
			}
		})
	}
}
