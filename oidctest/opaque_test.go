package oidctest_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// wantOpaque checks that tok is not a JWT and carries at least 256 bits.
func wantOpaque(t testing.TB, tok string) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if strings.Contains(tok, ".") || err != nil || len(b) < 32 {
		t.Errorf("access token %q is not an opaque base64url string of 32+ bytes", tok)
	}
}

func TestOpaqueAccessTokens(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now, OpaqueAccessTokens: true})
	params := authParams(appID, newPKCE())
	params.Set("resource", "https://api.example/")
	tk := login(t, srv, params)
	wantOpaque(t, tk.AccessToken)
	now := clk.Now().Unix()
	got := introspect(t, srv, tk.AccessToken)
	want := map[string]any{
		"active":     true,
		"token_type": "Bearer",
		"scope":      defaultScope,
		"client_id":  appID,
		"sub":        "ada",
		"iss":        srv.Issuer,
		"aud":        "https://api.example/",
		"iat":        now,
		"nbf":        now,
		"exp":        now + 300,
		"auth_time":  now,
		"jti":        got["jti"],
	}
	if keys, wantKeys := sortedKeys(got), sortedKeys(want); jsonString(keys) != jsonString(wantKeys) {
		t.Errorf("fields %v, want %v", keys, wantKeys)
	}
	wantClaims(t, got, want)
	if jti, _ := got["jti"].(string); jti == "" {
		t.Error("introspection without jti")
	}

	if res := userinfo(t, srv, "Bearer "+tk.AccessToken); res.status != http.StatusOK || res.json(t)["sub"] != "ada" {
		t.Errorf("userinfo: status %d: %s", res.status, res.body)
	}
	// The ID token's at_hash covers the opaque token.
	if claims := verifyJWT(t, srv, tk.IDToken); claims["at_hash"] != sha256Hash(tk.AccessToken) {
		t.Errorf("at_hash = %v, want the hash of the opaque token", claims["at_hash"])
	}
	next := wantTokens(t, refresh(t, srv, tk.RefreshToken))
	wantOpaque(t, next.AccessToken)
}

func TestOpaqueAccessTokensPerClient(t *testing.T) {
	t.Parallel()
	opaque := oidctest.Client{ID: "opaque", Secret: "s", OpaqueAccessTokens: true}
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{appClient(), opaque}})
	wantOpaque(t, wantTokens(t, post(t, srv, "/token", secretBasic("opaque", "s"), clientCredentialsForm())).AccessToken)
	verifyJWT(t, srv, wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm())).AccessToken)
}

func TestOpaqueAccessTokenDPoP(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{OpaqueAccessTokens: true})
	key := newDPoPKey(t, jose.ES256)
	pk := newPKCE()
	code := authCode(t, srv, authParams(appID, pk))
	tk := wantTokens(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, key)), codeForm(code, pk.verifier)))
	wantOpaque(t, tk.AccessToken)
	got := introspect(t, srv, tk.AccessToken)
	wantClaims(t, got, map[string]any{"active": true, "token_type": "DPoP", "cnf": map[string]any{"jkt": key.jkt(t)}})

	proof := key.boundProof(t, http.MethodGet, srv.Issuer+"/userinfo", tk.AccessToken, "", time.Now())
	if res := userinfoDPoP(t, srv, "DPoP "+tk.AccessToken, proof); res.status != http.StatusOK {
		t.Errorf("userinfo with the DPoP scheme: status %d: %s", res.status, res.header.Get("WWW-Authenticate"))
	}
	wantChallenge(t, userinfoDPoP(t, srv, "Bearer "+tk.AccessToken), "DPoP", "invalid_token")
}

func TestOpaqueAccessTokenInactive(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(t testing.TB, srv *oidctest.Server, clk *clock, tk tokens)
	}{
		{"revoked", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) { revoke(t, srv, appAuth, tk.AccessToken) }},
		{"grant revoked", func(t testing.TB, srv *oidctest.Server, _ *clock, tk tokens) {
			revoke(t, srv, appAuth, tk.RefreshToken)
		}},
		{"expired", func(_ testing.TB, _ *oidctest.Server, clk *clock, _ tokens) { clk.Advance(5 * time.Minute) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now, OpaqueAccessTokens: true})
			tk := login(t, srv, nil)
			if !isActive(t, srv, tk.AccessToken) {
				t.Fatal("fresh opaque token is inactive")
			}
			tt.end(t, srv, clk, tk)
			if got := introspect(t, srv, tk.AccessToken); jsonString(got) != `{"active":false}` {
				t.Errorf("introspection = %v, want only active false", got)
			}
			if res := userinfo(t, srv, "Bearer "+tk.AccessToken); res.status != http.StatusUnauthorized {
				t.Errorf("userinfo: status %d, want 401", res.status)
			}
		})
	}
}

// TestJWTIntrospectionCarriesBinding checks that introspecting a JWT
// access token answers its cnf and jti as the token does.
func TestJWTIntrospectionCarriesBinding(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	key := newDPoPKey(t, jose.ES256)
	tk := wantTokens(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, key)), clientCredentialsForm()))
	claims := verifyJWT(t, srv, tk.AccessToken)
	wantClaims(t, introspect(t, srv, tk.AccessToken), map[string]any{
		"token_type": "DPoP", "cnf": claims["cnf"], "jti": claims["jti"], "nbf": claims["nbf"],
	})
}
