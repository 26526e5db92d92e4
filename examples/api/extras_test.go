package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
)

// serve builds the API of vars and serves it on a loopback port.
func serve(t *testing.T, vars map[string]string) string {
	t.Helper()
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	a, err := build(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return srv.URL
}

// do sends req and returns the status and the body.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// TestDPoPReplayAcrossReplicas: two replicas sharing a Redis replay cache
// accept a DPoP proof once between them.
func TestDPoPReplayAcrossReplicas(t *testing.T) {
	t.Parallel()
	redisURL := testenv.RedisURL(t)
	p := provider(t)
	vars := map[string]string{"OIDC_ISSUER": p.Issuer, "API_AUDIENCE": audience, "REDIS_URL": redisURL}
	a, b := serve(t, vars), serve(t, vars)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dpop, err := client.NewDPoP(key, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{
		ClientID: "svc", ClientSecret: "s3cret", DPoP: dpop,
		Endpoint: client.Endpoint{Issuer: p.Issuer, TokenURL: p.Issuer + "/token"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.ClientCredentials(t.Context(), client.Resource(audience))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "DPoP" {
		t.Fatalf("token type %q, want DPoP", tok.Type())
	}
	// The proof is made for replica a's URL; replica b sees another htu,
	// so the replay goes to a's URL on both: same htu, same jti.
	proof, err := dpop.Proof(http.MethodGet, a+"/me", tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	send := func(base string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+"/me", nil)
		req.Host = strings.TrimPrefix(a, "http://") // b answers as if it were a
		req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
		req.Header.Set("DPoP", proof)
		return do(t, req)
	}
	if status, body := send(a); status != http.StatusOK {
		t.Fatalf("first use on replica a: %d %s", status, body)
	}
	if status, body := send(b); status != http.StatusUnauthorized || !strings.Contains(body, "invalid_dpop_proof") {
		t.Fatalf("replay on replica b: %d %s, want 401 invalid_dpop_proof", status, body)
	}
	// The same token as a Bearer token is refused.
	req, _ := http.NewRequest(http.MethodGet, a+"/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if status, body := do(t, req); status != http.StatusUnauthorized {
		t.Fatalf("DPoP-bound token as Bearer: %d %s, want 401", status, body)
	}
}

// TestOpaqueTokens: with an introspection client, opaque tokens are
// accepted, revoked ones refused; JWTs still work.
func TestOpaqueTokens(t *testing.T) {
	t.Parallel()
	p := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{
		{ID: "svc", Secret: "s3cret", OpaqueAccessTokens: true},
		{ID: "jwt-svc", Secret: "s3cret"},
		{ID: "api", Secret: "api-secret"},
	}})
	t.Cleanup(p.Close)
	url := serve(t, map[string]string{
		"OIDC_ISSUER": p.Issuer, "API_AUDIENCE": audience,
		"INTROSPECTION_CLIENT_ID": "api", "INTROSPECTION_CLIENT_SECRET": "api-secret",
	})
	get := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, url+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return do(t, req)
	}
	newClient := func(id string) *client.Client {
		c, err := client.New(client.Config{
			ClientID: id, ClientSecret: "s3cret",
			Endpoint: client.Endpoint{Issuer: p.Issuer, TokenURL: p.Issuer + "/token", RevocationURL: p.Issuer + "/revoke"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	opaque := newClient("svc")
	tok, err := opaque.ClientCredentials(t.Context(), client.Resource(audience))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("access token %q is a JWT, want an opaque one", tok.AccessToken)
	}
	status, body := get(tok.AccessToken)
	var me struct {
		Sub      string `json:"sub"`
		ClientID string `json:"client_id"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &me) != nil || me.ClientID != "svc" {
		t.Fatalf("opaque token: %d %s", status, body)
	}
	jwt, err := newClient("jwt-svc").ClientCredentials(t.Context(), client.Resource(audience))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(jwt.AccessToken); status != http.StatusOK {
		t.Fatalf("JWT next to opaque tokens: %d %s", status, body)
	}
	// A revoked token that the API has not seen yet is refused (a seen one
	// stays accepted until the API's cache lets it go).
	revoked, err := opaque.ClientCredentials(t.Context(), client.Resource(audience))
	if err != nil {
		t.Fatal(err)
	}
	if err := opaque.Revoke(t.Context(), revoked.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if status, body := get(revoked.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("revoked opaque token: %d %s, want 401", status, body)
	}
	if status, _ := get("opaque-but-unknown"); status != http.StatusUnauthorized {
		t.Fatalf("unknown opaque token: %d, want 401", status)
	}
}

func TestIntrospectionSettings(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(env(map[string]string{"OIDC_ISSUER": "http://127.0.0.1:1", "API_AUDIENCE": "x", "INTROSPECTION_CLIENT_ID": "api"}))
	if err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("client ID without secret: %v", err)
	}
}
