package oidctest_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/oidctest"
)

func TestCodeFlowWithOAuth2(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	conf := &oauth2.Config{
		ClientID:     appID,
		ClientSecret: appSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   srv.Issuer + "/authorize",
			TokenURL:  srv.Issuer + "/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: redirectURI,
		Scopes:      strings.Fields(defaultScope),
	}
	verifier := oauth2.GenerateVerifier()
	authURL := conf.AuthCodeURL(defaultState, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", defaultNonce))
	q := redirectParams(t, get(t, newBrowser(t), authURL))

	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, srv.Client())
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn != 300 {
		t.Errorf("token %+v: want a Bearer access token for 300s and a refresh token", tok)
	}
	if idt, _ := tok.Extra("id_token").(string); idt == "" {
		t.Error("no id_token")
	}
	if tok.Extra("scope") != defaultScope {
		t.Errorf("scope = %v, want %q", tok.Extra("scope"), defaultScope)
	}

	// The refresh token works through oauth2's token source.
	tok.Expiry = time.Now().Add(-time.Minute)
	next, err := conf.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == tok.RefreshToken {
		t.Error("refresh returned the same tokens")
	}
}

func TestTokenResponseHeaders(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	res := post(t, srv, "/token", appAuth, clientCredentialsForm())
	want := map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
	for k, v := range want {
		if got := res.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestCodeExchangeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// verifier makes the challenge of the authorization request;
		// empty means a fresh valid one.
		verifier string
		elapsed  time.Duration
		auth     clientAuth // nil means appAuth
		edit     func(url.Values)
		status   int
		code     string // "" for success
	}{
		{name: "valid", status: http.StatusOK},
		{name: "valid just before expiry", elapsed: 59 * time.Second, status: http.StatusOK},
		{name: "expired code", elapsed: 60 * time.Second, status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "no code_verifier", edit: del("code_verifier"), status: http.StatusBadRequest, code: "invalid_request"},
		{name: "wrong code_verifier", edit: set("code_verifier", oauth2.GenerateVerifier()), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "challenge as verifier", edit: func(f url.Values) {
			f.Set("code_verifier", oauth2.S256ChallengeFromVerifier(f.Get("code_verifier")))
		}, status: http.StatusBadRequest, code: "invalid_grant"},
		// The challenges of these malformed verifiers match: only the
		// syntax check refuses them.
		{name: "verifier of 42 characters", verifier: strings.Repeat("a", 42), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "verifier of 129 characters", verifier: strings.Repeat("a", 129), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "verifier with forbidden characters", verifier: strings.Repeat("a", 40) + "+/=", status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "verifier of 128 characters", verifier: strings.Repeat("a", 127) + "~", status: http.StatusOK},
		{name: "redirect_uri mismatch", edit: set("redirect_uri", "http://127.0.0.1:9/other"), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "no redirect_uri", edit: del("redirect_uri"), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "code for another client", auth: spaAuth, status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "unknown code", edit: set("code", "nope"), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "no code", edit: del("code"), status: http.StatusBadRequest, code: "invalid_grant"},
		{name: "unsupported grant_type", edit: set("grant_type", "password"), status: http.StatusBadRequest, code: "unsupported_grant_type"},
		{name: "no grant_type", edit: del("grant_type"), status: http.StatusBadRequest, code: "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			pk := newPKCE()
			if tt.verifier != "" {
				pk = pkceFor(tt.verifier)
			}
			code := authCode(t, srv, authParams(appID, pk))
			clk.Advance(tt.elapsed)
			form := codeForm(code, pk.verifier)
			if tt.edit != nil {
				tt.edit(form)
			}
			auth := tt.auth
			if auth == nil {
				auth = appAuth
			}
			res := post(t, srv, "/token", auth, form)
			if tt.code == "" {
				wantTokens(t, res)
				return
			}
			wantOAuthError(t, res, tt.status, tt.code)
		})
	}
}

func TestTokenEndpointNeedsPOST(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	wantOAuthError(t, get(t, srv.Client(), srv.Issuer+"/token?grant_type=client_credentials"), http.StatusMethodNotAllowed, "invalid_request")
}

// TestCodeReuseRevokesTokens checks RFC 6749 §4.1.2: a code presented
// twice is refused, and what its first redemption issued is revoked.
func TestCodeReuseRevokesTokens(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	pk := newPKCE()
	code := authCode(t, srv, authParams(appID, pk))
	first := exchange(t, srv, appAuth, code, pk.verifier)
	other := login(t, srv, nil) // another grant, which must survive
	if !isActive(t, srv, first.AccessToken) || !isActive(t, srv, first.RefreshToken) {
		t.Fatal("tokens of the first redemption are not active")
	}

	wantOAuthError(t, post(t, srv, "/token", appAuth, codeForm(code, pk.verifier)), http.StatusBadRequest, "invalid_grant")

	for name, tok := range map[string]string{"access token": first.AccessToken, "refresh token": first.RefreshToken} {
		if isActive(t, srv, tok) {
			t.Errorf("%s of the first redemption is still active", name)
		}
	}
	wantOAuthError(t, refresh(t, srv, first.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if !isActive(t, srv, other.AccessToken) || !isActive(t, srv, other.RefreshToken) {
		t.Error("tokens of another grant were revoked")
	}
}

func TestFailedRedemptionBurnsCode(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	pk := newPKCE()
	code := authCode(t, srv, authParams(appID, pk))
	wantOAuthError(t, post(t, srv, "/token", appAuth, codeForm(code, "wrong-"+pk.verifier[6:])), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, post(t, srv, "/token", appAuth, codeForm(code, pk.verifier)), http.StatusBadRequest, "invalid_grant")
}

func TestCodeResources(t *testing.T) {
	t.Parallel()
	const api1, api2 = "https://api1.example.com/", "https://api2.example.com/"
	tests := []struct {
		name       string
		authorized []string
		requested  []string
		wantAud    any
		wantCode   string
	}{
		{"none", nil, nil, appID, ""},
		{"one authorized", []string{api1}, nil, api1, ""},
		{"two authorized", []string{api1, api2}, nil, []string{api1, api2}, ""},
		{"narrowed at the token endpoint", []string{api1, api2}, []string{api2}, api2, ""},
		{"not authorized", []string{api1}, []string{api2}, nil, "invalid_target"},
		{"requested at the token endpoint only", nil, []string{api2}, api2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			pk := newPKCE()
			params := authParams(appID, pk)
			params["resource"] = tt.authorized
			form := codeForm(authCode(t, srv, params), pk.verifier)
			form["resource"] = tt.requested
			res := post(t, srv, "/token", appAuth, form)
			if tt.wantCode != "" {
				wantOAuthError(t, res, http.StatusBadRequest, tt.wantCode)
				return
			}
			claims := verifyJWT(t, srv, wantTokens(t, res).AccessToken)
			wantClaims(t, claims, map[string]any{"aud": tt.wantAud})
		})
	}
}
