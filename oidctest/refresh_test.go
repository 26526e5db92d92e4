package oidctest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := login(t, srv, nil)
	seen := map[string]bool{tk.RefreshToken: true}
	for i := range 3 {
		next := wantTokens(t, refresh(t, srv, tk.RefreshToken))
		if next.RefreshToken == "" || seen[next.RefreshToken] {
			t.Fatalf("refresh %d: refresh token %q, want a new one", i, next.RefreshToken)
		}
		if next.AccessToken == tk.AccessToken {
			t.Errorf("refresh %d: same access token", i)
		}
		if isActive(t, srv, tk.RefreshToken) {
			t.Errorf("refresh %d: the rotated refresh token is still active", i)
		}
		seen[next.RefreshToken] = true
		tk = next
	}
}

// TestRefreshReuseRevokesFamily checks reuse detection: presenting a
// rotated refresh token revokes every token of its grant.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	first := login(t, srv, nil)
	other := login(t, srv, nil)
	second := wantTokens(t, refresh(t, srv, first.RefreshToken))

	wantOAuthError(t, refresh(t, srv, first.RefreshToken), http.StatusBadRequest, "invalid_grant")

	wantOAuthError(t, refresh(t, srv, second.RefreshToken), http.StatusBadRequest, "invalid_grant")
	for name, tok := range map[string]string{
		"first access token":   first.AccessToken,
		"newest access token":  second.AccessToken,
		"newest refresh token": second.RefreshToken,
	} {
		if isActive(t, srv, tok) {
			t.Errorf("%s is still active", name)
		}
	}
	if !isActive(t, srv, other.AccessToken) {
		t.Error("another grant's access token was revoked")
	}
	wantTokens(t, refresh(t, srv, other.RefreshToken))
}

func TestNoRefreshRotation(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{NoRefreshRotation: true})
	tk := login(t, srv, nil)
	for i := range 3 {
		next := wantTokens(t, refresh(t, srv, tk.RefreshToken))
		if next.RefreshToken != tk.RefreshToken {
			t.Fatalf("refresh %d: refresh token changed", i)
		}
	}
	if !isActive(t, srv, tk.RefreshToken) {
		t.Error("the refresh token is not active")
	}
}

func TestRefreshScope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		scope string
		want  string // granted scope, or "" for invalid_scope
	}{
		{"same", "", defaultScope},
		{"narrower", "openid", "openid"},
		{"reordered subset", "email openid", "email openid"},
		{"wider", "openid admin", ""},
		{"other", "admin", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			tk := login(t, srv, nil)
			form := refreshForm(tk.RefreshToken)
			form.Set("scope", tt.scope)
			res := post(t, srv, "/token", appAuth, form)
			if tt.want == "" {
				wantOAuthError(t, res, http.StatusBadRequest, "invalid_scope")
				// A refused request does not use the refresh token up.
				wantTokens(t, refresh(t, srv, tk.RefreshToken))
				return
			}
			next := wantTokens(t, res)
			if next.Scope != tt.want {
				t.Errorf("scope = %q, want %q", next.Scope, tt.want)
			}
			if got := verifyJWT(t, srv, next.AccessToken)["scope"]; got != tt.want {
				t.Errorf("access token scope = %v, want %q", got, tt.want)
			}
			// RFC 6749 §6: the new refresh token has the scope of the
			// one it replaces, however narrow this access token is.
			if again := wantTokens(t, refresh(t, srv, next.RefreshToken)); again.Scope != defaultScope {
				t.Errorf("next refresh: scope = %q, want the granted %q", again.Scope, defaultScope)
			}
		})
	}
}

func TestRefreshIDToken(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	tk := login(t, srv, nil)
	first := verifyJWT(t, srv, tk.IDToken)
	clk.Advance(time.Minute)
	next := wantTokens(t, refresh(t, srv, tk.RefreshToken))
	claims := verifyJWT(t, srv, next.IDToken)
	wantClaims(t, claims, map[string]any{
		"iss":       first["iss"],
		"sub":       first["sub"],
		"aud":       first["aud"],
		"auth_time": first["auth_time"],
		"sid":       first["sid"],
		"iat":       clk.Now().Unix(),
	}, "nonce")
	if first["nonce"] != defaultNonce {
		t.Errorf("first ID token nonce = %v, want %s", first["nonce"], defaultNonce)
	}
}

func TestRefreshTokenNeedsOfflineAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scope   string
		refresh bool
	}{
		{"openid profile", false},
		{"openid offline_access", true},
		{"offline_access", true},
	}
	for _, tt := range tests {
		t.Run(tt.scope, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			params.Set("scope", tt.scope)
			if got := login(t, srv, params).RefreshToken != ""; got != tt.refresh {
				t.Errorf("refresh token issued: %v, want %v", got, tt.refresh)
			}
		})
	}
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// spoil does something to the server and returns the form.
		spoil func(t testing.TB, srv *oidctest.Server, clk *clock, tk tokens) url.Values
		auth  clientAuth // nil means appAuth
		code  string
	}{
		{"unknown token", func(testing.TB, *oidctest.Server, *clock, tokens) url.Values {
			return refreshForm("nope")
		}, nil, "invalid_grant"},
		{"no token", func(testing.TB, *oidctest.Server, *clock, tokens) url.Values {
			return url.Values{"grant_type": {"refresh_token"}}
		}, nil, "invalid_grant"},
		{"another client's token", func(_ testing.TB, _ *oidctest.Server, _ *clock, tk tokens) url.Values {
			return refreshForm(tk.RefreshToken)
		}, spaAuth, "invalid_grant"},
		{"expired", func(_ testing.TB, _ *oidctest.Server, clk *clock, tk tokens) url.Values {
			clk.Advance(time.Hour)
			return refreshForm(tk.RefreshToken)
		}, nil, "invalid_grant"},
		{"revoked", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) url.Values {
			post(t, srv, "/revoke", appAuth, url.Values{"token": {tk.RefreshToken}})
			return refreshForm(tk.RefreshToken)
		}, nil, "invalid_grant"},
		{"resource not granted", func(_ testing.TB, _ *oidctest.Server, _ *clock, tk tokens) url.Values {
			form := refreshForm(tk.RefreshToken)
			form.Set("resource", "https://other.example.com/")
			return form
		}, nil, "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now, RefreshTokenTTL: time.Hour})
			params := authParams(appID, newPKCE())
			params.Set("resource", "https://api.example.com/")
			tk := login(t, srv, params)
			auth := tt.auth
			if auth == nil {
				auth = appAuth
			}
			wantOAuthError(t, post(t, srv, "/token", auth, tt.spoil(t, srv, clk, tk)), http.StatusBadRequest, tt.code)
		})
	}
}

func TestRefreshForeignClientDoesNotUseTokenUp(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := login(t, srv, nil)
	wantOAuthError(t, post(t, srv, "/token", spaAuth, refreshForm(tk.RefreshToken)), http.StatusBadRequest, "invalid_grant")
	wantTokens(t, refresh(t, srv, tk.RefreshToken))
}

func TestRefreshResource(t *testing.T) {
	t.Parallel()
	const api1, api2 = "https://api1.example.com/", "https://api2.example.com/"
	srv := newServer(t, oidctest.Config{})
	params := authParams(appID, newPKCE())
	params["resource"] = []string{api1, api2}
	tk := login(t, srv, params)
	form := refreshForm(tk.RefreshToken)
	form.Set("resource", api2)
	next := wantTokens(t, post(t, srv, "/token", appAuth, form))
	wantClaims(t, verifyJWT(t, srv, next.AccessToken), map[string]any{"aud": api2})
	again := wantTokens(t, refresh(t, srv, next.RefreshToken))
	wantClaims(t, verifyJWT(t, srv, again.AccessToken), map[string]any{"aud": []string{api1, api2}})
}

// TestRefreshKeepsGrantLifetime checks that rotation does not extend the
// grant: a rotated refresh token expires when the first one would have.
func TestRefreshKeepsGrantLifetime(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now, RefreshTokenTTL: time.Hour})
	tk := login(t, srv, nil)
	clk.Advance(30 * time.Minute)
	next := wantTokens(t, refresh(t, srv, tk.RefreshToken))
	clk.Advance(30*time.Minute - time.Second)
	next = wantTokens(t, refresh(t, srv, next.RefreshToken))
	clk.Advance(time.Second)
	wantOAuthError(t, refresh(t, srv, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
}
