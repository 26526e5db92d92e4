package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	for _, id := range []string{basicID, postID, ecJWTID, rsaJWTID} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			c := f.client(t, id, nil)
			tok, err := c.ClientCredentials(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			claims := jwtClaims(t, tok.AccessToken)
			if claims["sub"] != id || claims["client_id"] != id {
				t.Fatalf("access token claims %v, want the client as subject", claims)
			}
			if tok.Extra("scope") != "openid profile offline_access" {
				t.Fatalf("scope %v, want Config.Scopes", tok.Extra("scope"))
			}
		})
	}
}

func TestClientCredentialsOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	tests := []struct {
		name      string
		scopes    []string
		opts      []client.TokenOption
		wantScope string
		wantAud   string
	}{
		{name: "config scopes", scopes: []string{"read", "write"}, wantScope: "read write", wantAud: basicID},
		{name: "no scopes", wantAud: basicID},
		{name: "scope option replaces config", scopes: []string{"read", "write"}, opts: []client.TokenOption{client.Param("scope", "admin")}, wantScope: "admin", wantAud: basicID},
		{name: "resource", opts: []client.TokenOption{client.Resource("https://api.example")}, wantAud: "https://api.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := f.client(t, basicID, func(cfg *client.Config) { cfg.Scopes = tt.scopes })
			tok, err := c.ClientCredentials(t.Context(), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			claims := jwtClaims(t, tok.AccessToken)
			if scope, _ := claims["scope"].(string); scope != tt.wantScope {
				t.Fatalf("scope %q, want %q", scope, tt.wantScope)
			}
			if claims["aud"] != tt.wantAud {
				t.Fatalf("aud %v, want %v", claims["aud"], tt.wantAud)
			}
		})
	}
}

func TestClientCredentialsErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	_, err := f.client(t, publicID, nil).ClientCredentials(t.Context())
	if te := asTokenError(t, err); te.Code != "unauthorized_client" {
		t.Fatalf("public client: code %q", te.Code)
	}
	wrong := f.client(t, basicID, func(cfg *client.Config) { cfg.ClientSecret = "wrong" })
	_, err = wrong.ClientCredentials(t.Context())
	if te := asTokenError(t, err); te.Code != "invalid_client" {
		t.Fatalf("wrong secret: code %q", te.Code)
	}
	_, err = f.client(t, basicID, nil).ClientCredentials(t.Context(), client.Param("grant_type", "password"))
	if err == nil {
		t.Fatal("grant_type option accepted")
	}
}

func TestClientCredentialsSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	clk := newClock()
	c := f.client(t, basicID, func(cfg *client.Config) { cfg.Now = clk.Now })
	var mu sync.Mutex
	var rotations [][2]*client.Token
	src := c.ClientCredentialsSource(
		client.RefreshWith(client.Resource("https://api.example")),
		client.OnRotate(func(_ context.Context, prev, next *client.Token) error {
			mu.Lock()
			defer mu.Unlock()
			rotations = append(rotations, [2]*client.Token{prev, next})
			return nil
		}))

	// Concurrent first callers share one request.
	const callers = 20
	got := make([]*client.Token, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			tok, err := src.Token(t.Context())
			if err != nil {
				t.Error(err)
			}
			got[i] = tok
		})
	}
	wg.Wait()
	first := got[0]
	for i := range callers {
		if got[i] != first {
			t.Fatalf("caller %d got another token", i)
		}
	}
	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	if aud := jwtClaims(t, first.AccessToken)["aud"]; aud != "https://api.example" {
		t.Fatalf("aud %v: RefreshWith not applied", aud)
	}
	if len(rotations) != 1 || rotations[0][0] != nil || rotations[0][1] != first {
		t.Fatalf("OnRotate calls %v, want one with no previous token", rotations)
	}

	// Cached until EarlyRefresh before expiry (5 minutes), then renewed.
	clk.Advance(4 * time.Minute)
	if tok, err := src.Token(t.Context()); err != nil || tok != first {
		t.Fatalf("fresh token not cached: %v", err)
	}
	clk.Advance(40 * time.Second)
	next, err := src.Token(t.Context())
	if err != nil || next == first || next.AccessToken == first.AccessToken {
		t.Fatalf("token near expiry not renewed: %v", err)
	}
	if len(rotations) != 2 || rotations[1][0] != first || rotations[1][1] != next {
		t.Fatal("OnRotate did not see the renewal")
	}
	reqs := f.srv.Requests(oidctest.EndpointToken)
	if len(reqs) != 2 || reqs[1].Form.Get("grant_type") != "client_credentials" || reqs[1].Form.Get("resource") != "https://api.example" {
		t.Fatalf("renewal requests %v", reqs)
	}
}

func TestClientCredentialsSourceFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		advance time.Duration // after the first token, which lives 5 minutes
		current bool          // the current token is returned
	}{
		{"within margin, unexpired", 4*time.Minute + 50*time.Second, true},
		{"expired", 6 * time.Minute, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			clk := newClock()
			c := f.client(t, basicID, func(cfg *client.Config) { cfg.Now = clk.Now })
			src := c.ClientCredentialsSource()
			first, err := src.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(tt.advance)
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
				oidctest.EndpointToken: {Status: 503, Body: `{"error":"temporarily_unavailable"}`}}})
			got, err := src.Token(t.Context())
			if tt.current {
				if err != nil || got != first {
					t.Fatalf("Token = %v, want the current token", err)
				}
			} else if te := asTokenError(t, err); te.Code != "temporarily_unavailable" || got != nil {
				t.Fatalf("Token: code %q", te.Code)
			}
			f.srv.SetFaults(oidctest.Faults{})
			if got, err := src.Token(t.Context()); err != nil || got == first {
				t.Fatalf("no renewal after recovery: %v", err)
			}
		})
	}
}

func TestClientCredentialsSourceTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: 2 * time.Second}}})
	src := c.ClientCredentialsSource(client.RefreshTimeout(100 * time.Millisecond))
	start := time.Now()
	_, err := src.Token(t.Context())
	wantIs(t, err, context.DeadlineExceeded)
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Token returned after %v", d)
	}
}

func TestClientCredentialsHTTPClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	src := c.ClientCredentialsSource()
	var seen atomic.Value
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Authorization"))
	}))
	t.Cleanup(api.Close)
	resp, err := c.HTTPClientFor(src).Get(api.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	tok, err := src.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if seen.Load() != "Bearer "+tok.AccessToken {
		t.Fatalf("API saw %v", seen.Load())
	}
}
