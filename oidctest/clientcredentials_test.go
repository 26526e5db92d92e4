package oidctest_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyway-go/keyway/oidctest"
)

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	conf := &clientcredentials.Config{
		ClientID:       appID,
		ClientSecret:   appSecret,
		TokenURL:       srv.Issuer + "/token",
		Scopes:         []string{"read", "write"},
		EndpointParams: url.Values{"resource": {"https://api.example.com/"}},
		AuthStyle:      oauth2.AuthStyleInHeader,
	}
	tok, err := conf.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken != "" || tok.Extra("id_token") != nil {
		t.Errorf("token %+v: want a Bearer access token only", tok)
	}

	header, _ := decodeJWT(t, tok.AccessToken)
	wantClaims(t, header, map[string]any{"typ": "at+jwt", "alg": "RS256"})
	claims := verifyJWT(t, srv, tok.AccessToken)
	now := clk.Now().Unix()
	wantClaims(t, claims, map[string]any{
		"iss":       srv.Issuer,
		"sub":       appID,
		"aud":       "https://api.example.com/",
		"client_id": appID,
		"scope":     "read write",
		"iat":       now,
		"exp":       now + 300,
	}, "auth_time")
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Error("no jti")
	}
	again, err := conf.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, c := decodeJWT(t, again.AccessToken); c["jti"] == claims["jti"] {
		t.Errorf("two tokens share jti %v", c["jti"])
	}
}

func TestClientCredentialsAudience(t *testing.T) {
	t.Parallel()
	const api1, api2 = "https://api1.example.com/", "urn:example:api2"
	tests := []struct {
		name            string
		defaultAudience string
		resources       []string
		aud             any
		code            string // error instead of a token
	}{
		{name: "client ID without resource", aud: appID},
		{name: "DefaultAudience without resource", defaultAudience: "https://default.example.com/", aud: "https://default.example.com/"},
		{name: "one resource", defaultAudience: "https://default.example.com/", resources: []string{api1}, aud: api1},
		{name: "two resources", resources: []string{api1, api2}, aud: []string{api1, api2}},
		{name: "relative resource", resources: []string{"/api"}, code: "invalid_target"},
		{name: "resource with fragment", resources: []string{api1 + "#x"}, code: "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{DefaultAudience: tt.defaultAudience})
			form := clientCredentialsForm()
			form["resource"] = tt.resources
			res := post(t, srv, "/token", appAuth, form)
			if tt.code != "" {
				wantOAuthError(t, res, http.StatusBadRequest, tt.code)
				return
			}
			wantClaims(t, verifyJWT(t, srv, wantTokens(t, res).AccessToken), map[string]any{"aud": tt.aud})
		})
	}
}

func TestClientCredentialsRefusesPublicClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	wantOAuthError(t, post(t, srv, "/token", spaAuth, clientCredentialsForm()), http.StatusBadRequest, "unauthorized_client")
}

func TestClientCredentialsWithoutScope(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm()))
	if tk.Scope != "" {
		t.Errorf("scope = %q, want none", tk.Scope)
	}
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), nil, "scope")
}

func TestTokenLifetimes(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now, AccessTokenTTL: 2 * time.Minute, IDTokenTTL: 10 * time.Minute})
	tk := login(t, srv, nil)
	if tk.ExpiresIn != 120 {
		t.Errorf("expires_in = %d, want 120", tk.ExpiresIn)
	}
	now := clk.Now().Unix()
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), map[string]any{"exp": now + 120, "nbf": now, "auth_time": now})
	wantClaims(t, verifyJWT(t, srv, tk.IDToken), map[string]any{"exp": now + 600})
}
