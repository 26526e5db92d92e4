package oidctest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

func revoke(t testing.TB, srv *oidctest.Server, auth clientAuth, token string) {
	t.Helper()
	res := post(t, srv, "/revoke", auth, url.Values{"token": {token}})
	if res.status != http.StatusOK {
		t.Fatalf("revoke: status %d, want 200: %s", res.status, res.body)
	}
}

func TestRevokeRefreshTokenRevokesGrant(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	first := login(t, srv, nil)
	second := wantTokens(t, refresh(t, srv, first.RefreshToken))
	other := login(t, srv, nil)

	revoke(t, srv, appAuth, second.RefreshToken)

	for name, tok := range map[string]string{
		"refresh token":       second.RefreshToken,
		"access token":        second.AccessToken,
		"first access token":  first.AccessToken,
		"first refresh token": first.RefreshToken,
	} {
		if isActive(t, srv, tok) {
			t.Errorf("%s is still active", name)
		}
	}
	wantOAuthError(t, refresh(t, srv, second.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if !isActive(t, srv, other.AccessToken) || !isActive(t, srv, other.RefreshToken) {
		t.Error("another grant was revoked")
	}
}

func TestRevokeAccessToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := login(t, srv, nil)
	revoke(t, srv, appAuth, tk.AccessToken)
	if isActive(t, srv, tk.AccessToken) {
		t.Error("revoked access token is active")
	}
	if res := userinfo(t, srv, "Bearer "+tk.AccessToken); res.status != http.StatusUnauthorized {
		t.Errorf("userinfo with a revoked token: status %d, want 401", res.status)
	}
	// The grant survives: the refresh token still works.
	wantTokens(t, refresh(t, srv, tk.RefreshToken))
}

func TestRevokeOthers(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := login(t, srv, nil)

	revoke(t, srv, appAuth, "unknown") // RFC 7009 §2.2: 200 for unknown tokens
	revoke(t, srv, spaAuth, tk.AccessToken)
	revoke(t, srv, spaAuth, tk.RefreshToken)
	if !isActive(t, srv, tk.AccessToken) || !isActive(t, srv, tk.RefreshToken) {
		t.Error("another client revoked the app's tokens")
	}
}

func TestRevokeRejects(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := login(t, srv, nil)
	wantOAuthError(t, post(t, srv, "/revoke", nil, url.Values{"token": {tk.AccessToken}}), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, post(t, srv, "/revoke", secretBasic(appID, "wrong"), url.Values{"token": {tk.AccessToken}}), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, post(t, srv, "/revoke", appAuth, nil), http.StatusBadRequest, "invalid_request")
	wantOAuthError(t, get(t, srv.Client(), srv.Issuer+"/revoke?token="+url.QueryEscape(tk.AccessToken)), http.StatusMethodNotAllowed, "invalid_request")
	if !isActive(t, srv, tk.AccessToken) {
		t.Error("a refused revocation revoked the token")
	}
}

func TestIntrospectActive(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	params := authParams(appID, newPKCE())
	params.Set("resource", "https://api.example.com/")
	tk := login(t, srv, params)
	now := clk.Now().Unix()

	t.Run("access token", func(t *testing.T) {
		got := introspect(t, srv, tk.AccessToken)
		want := map[string]any{
			"active":     true,
			"token_type": "Bearer",
			"client_id":  appID,
			"sub":        "ada",
			"iss":        srv.Issuer,
			"aud":        "https://api.example.com/",
			"iat":        now,
			"nbf":        now,
			"auth_time":  now,
			"exp":        now + 300,
			"scope":      defaultScope,
			"jti":        verifyJWT(t, srv, tk.AccessToken)["jti"],
		}
		if keys, wantKeys := sortedKeys(got), sortedKeys(want); jsonString(keys) != jsonString(wantKeys) {
			t.Errorf("fields %v, want %v", keys, wantKeys)
		}
		wantClaims(t, got, want)
	})
	t.Run("refresh token", func(t *testing.T) {
		got := introspect(t, srv, tk.RefreshToken)
		wantClaims(t, got, map[string]any{
			"active":     true,
			"token_type": "refresh_token",
			"client_id":  appID,
			"sub":        "ada",
			"iss":        srv.Issuer,
			"exp":        clk.Now().Add(24 * time.Hour).Unix(),
			"scope":      defaultScope,
		})
	})
	t.Run("client credentials token", func(t *testing.T) {
		cc := wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm()))
		wantClaims(t, introspect(t, srv, cc.AccessToken), map[string]any{"active": true, "sub": appID, "aud": appID}, "scope")
	})
	t.Run("by another client", func(t *testing.T) {
		res := post(t, srv, "/introspect", spaAuth, url.Values{"token": {tk.AccessToken}})
		wantClaims(t, res.json(t), map[string]any{"active": true, "client_id": appID})
	})
}

func TestIntrospectInactive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token func(t testing.TB, srv *oidctest.Server, clk *clock, tk tokens) string
	}{
		{"unknown", func(testing.TB, *oidctest.Server, *clock, tokens) string { return "unknown" }},
		{"empty", func(testing.TB, *oidctest.Server, *clock, tokens) string { return "" }},
		{"ID token", func(_ testing.TB, _ *oidctest.Server, _ *clock, tk tokens) string { return tk.IDToken }},
		{"revoked access token", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) string {
			revoke(t, srv, appAuth, tk.AccessToken)
			return tk.AccessToken
		}},
		{"expired access token", func(_ testing.TB, _ *oidctest.Server, clk *clock, tk tokens) string {
			clk.Advance(5 * time.Minute)
			return tk.AccessToken
		}},
		{"revoked refresh token", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) string {
			revoke(t, srv, appAuth, tk.RefreshToken)
			return tk.RefreshToken
		}},
		{"expired refresh token", func(_ testing.TB, _ *oidctest.Server, clk *clock, tk tokens) string {
			clk.Advance(24 * time.Hour)
			return tk.RefreshToken
		}},
		{"rotated refresh token", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) string {
			wantTokens(t, refresh(t, srv, tk.RefreshToken))
			return tk.RefreshToken
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			tk := login(t, srv, nil)
			got := introspect(t, srv, tt.token(t, srv, clk, tk))
			if jsonString(got) != `{"active":false}` {
				t.Errorf("introspection = %v, want only active false", got)
			}
		})
	}
}

func TestIntrospectRejects(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := login(t, srv, nil)
	wantOAuthError(t, post(t, srv, "/introspect", nil, url.Values{"token": {tk.AccessToken}}), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, get(t, srv.Client(), srv.Issuer+"/introspect"), http.StatusMethodNotAllowed, "invalid_request")
}
