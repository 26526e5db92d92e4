package oidctest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// userinfo calls the userinfo endpoint with the Authorization header
// authz (none when empty).
func userinfo(t testing.TB, srv *oidctest.Server, authz string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.Issuer+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := do(srv.Client(), req)
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	return res
}

func TestUserinfo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scope  string
		want   map[string]any
		absent []string
	}{
		{"openid", map[string]any{"sub": "ada"}, []string{"name", "email"}},
		{"openid profile", map[string]any{"sub": "ada", "name": "Ada Lovelace", "preferred_username": "ada"}, []string{"email"}},
		{"openid email", map[string]any{"sub": "ada", "email": "ada@example.com", "email_verified": true}, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			params.Set("scope", tt.scope)
			res := userinfo(t, srv, "Bearer "+login(t, srv, params).AccessToken)
			if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, Content-Type %q: %s", res.status, res.header.Get("Content-Type"), res.body)
			}
			wantClaims(t, res.json(t), tt.want, tt.absent...)
		})
	}
}

func TestUserinfoSchemeIsCaseInsensitive(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	if res := userinfo(t, srv, "bearer "+login(t, srv, nil).AccessToken); res.status != http.StatusOK {
		t.Errorf("status %d, want 200", res.status)
	}
}

func TestUserinfoRejects(t *testing.T) {
	t.Parallel()
	const invalidToken = `Bearer error="invalid_token", error_description="the access token is invalid"`
	tests := []struct {
		name string
		// authz returns the Authorization header for a user's tokens.
		authz     func(t testing.TB, srv *oidctest.Server, clk *clock, tk tokens) string
		status    int
		challenge string
	}{
		{"no token", func(testing.TB, *oidctest.Server, *clock, tokens) string { return "" },
			http.StatusUnauthorized, "Bearer"},
		{"Basic scheme", func(testing.TB, *oidctest.Server, *clock, tokens) string { return "Basic YTpi" },
			http.StatusUnauthorized, "Bearer"},
		{"empty bearer", func(testing.TB, *oidctest.Server, *clock, tokens) string { return "Bearer " },
			http.StatusUnauthorized, "Bearer"},
		{"unknown token", func(testing.TB, *oidctest.Server, *clock, tokens) string { return "Bearer nope" },
			http.StatusUnauthorized, invalidToken},
		{"ID token", func(_ testing.TB, _ *oidctest.Server, _ *clock, tk tokens) string { return "Bearer " + tk.IDToken },
			http.StatusUnauthorized, invalidToken},
		{"expired token", func(_ testing.TB, _ *oidctest.Server, clk *clock, tk tokens) string {
			clk.Advance(5 * time.Minute)
			return "Bearer " + tk.AccessToken
		}, http.StatusUnauthorized, invalidToken},
		{"revoked token", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) string {
			post(t, srv, "/revoke", appAuth, url.Values{"token": {tk.AccessToken}})
			return "Bearer " + tk.AccessToken
		}, http.StatusUnauthorized, invalidToken},
		{"client credentials token", func(t testing.TB, srv *oidctest.Server, _ *clock, _ tokens) string {
			form := clientCredentialsForm()
			form.Set("scope", "openid")
			return "Bearer " + wantTokens(t, post(t, srv, "/token", appAuth, form)).AccessToken
		}, http.StatusForbidden, `Bearer error="insufficient_scope", scope="openid"`},
		{"token without openid", func(t testing.TB, srv *oidctest.Server, _ *clock, _ tokens) string {
			params := authParams(appID, newPKCE())
			params.Set("scope", "profile")
			return "Bearer " + login(t, srv, params).AccessToken
		}, http.StatusForbidden, `Bearer error="insufficient_scope", scope="openid"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			tk := login(t, srv, nil)
			res := userinfo(t, srv, tt.authz(t, srv, clk, tk))
			if res.status != tt.status {
				t.Errorf("status %d, want %d", res.status, tt.status)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
		})
	}
}
