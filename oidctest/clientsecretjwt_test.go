package oidctest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// jwtSecret is long enough for go-jose to use with HS512.
const jwtSecret = "a-client-secret-of-sixty-four-bytes-for-hs512-0123456789abcdefgh"

// hmacAssertion signs claims with secret.
func hmacAssertion(t testing.TB, alg jose.SignatureAlgorithm, secret string, claims map[string]any) string {
	t.Helper()
	return signCompact(t, jose.SigningKey{Algorithm: alg, Key: []byte(secret)}, (&jose.SignerOptions{}).WithType("JWT"), claims)
}

func TestClientSecretJWT(t *testing.T) {
	t.Parallel()
	rsaKey := newClientKey(t, jose.RS256, "")
	tests := []struct {
		name   string
		sign   func(t testing.TB, claims map[string]any) string
		edit   func(claims map[string]any, srv *oidctest.Server)
		noID   bool // leave client_id out of the form
		failed bool
	}{
		{name: "HS256", sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) }},
		{name: "HS384", sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS384, jwtSecret, c) }},
		{name: "HS512", sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS512, jwtSecret, c) }},
		{name: "client_id from the assertion", noID: true, sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) }},
		{name: "aud is the token endpoint", sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) },
			edit: func(c map[string]any, srv *oidctest.Server) { c["aud"] = srv.Issuer + "/token" }},
		{name: "wrong secret", failed: true, sign: func(t testing.TB, c map[string]any) string {
			return hmacAssertion(t, jose.HS256, strings.ToUpper(jwtSecret), c)
		}},
		{name: "bad signature", failed: true, sign: func(t testing.TB, c map[string]any) string {
			return flipSignature(t, hmacAssertion(t, jose.HS256, jwtSecret, c))
		}},
		{name: "unsigned", failed: true, sign: func(t testing.TB, c map[string]any) string {
			return rawProof(t, map[string]any{"alg": "none"}, c, func(string) []byte { return nil })
		}},
		{name: "signed with a private key", failed: true, sign: func(t testing.TB, c map[string]any) string { return rsaKey.sign(t, c) }},
		{name: "wrong aud", failed: true, sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) },
			edit: func(c map[string]any, _ *oidctest.Server) { c["aud"] = "https://other.example/" }},
		{name: "expired", failed: true, sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) },
			edit: func(c map[string]any, _ *oidctest.Server) { c["exp"] = time.Now().Add(-time.Second).Unix() }},
		{name: "sub is another client", failed: true, sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) },
			edit: func(c map[string]any, _ *oidctest.Server) { c["sub"] = appID }},
		{name: "no jti", failed: true, sign: func(t testing.TB, c map[string]any) string { return hmacAssertion(t, jose.HS256, jwtSecret, c) },
			edit: func(c map[string]any, _ *oidctest.Server) { delete(c, "jti") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{appClient(), {ID: "hs", Secret: jwtSecret, AuthMethod: "client_secret_jwt"}}})
			claims := assertionClaims(srv, "hs", time.Now())
			if tt.edit != nil {
				tt.edit(claims, srv)
			}
			id := "hs"
			if tt.noID {
				id = ""
			}
			res := post(t, srv, "/token", assertionAuth(id, tt.sign(t, claims)), clientCredentialsForm())
			if tt.failed {
				wantOAuthError(t, res, http.StatusUnauthorized, "invalid_client")
				return
			}
			wantClaims(t, verifyJWT(t, srv, wantTokens(t, res).AccessToken), map[string]any{"client_id": "hs"})
		})
	}
}

// TestClientSecretJWTShortSecret checks that a secret shorter than the
// hash still keys HS256, as many providers allow.
func TestClientSecretJWTShortSecret(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{ID: "hs", Secret: "short", AuthMethod: "client_secret_jwt"}}})
	assertion := rawProof(t, map[string]any{"alg": "HS256", "typ": "JWT"}, assertionClaims(srv, "hs", time.Now()), func(in string) []byte {
		mac := hmac.New(sha256.New, []byte("short"))
		mac.Write([]byte(in))
		return mac.Sum(nil)
	})
	wantTokens(t, post(t, srv, "/token", assertionAuth("hs", assertion), clientCredentialsForm()))
}

func TestClientSecretJWTReplay(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{ID: "hs", Secret: jwtSecret, AuthMethod: "client_secret_jwt"}}})
	assertion := hmacAssertion(t, jose.HS256, jwtSecret, assertionClaims(srv, "hs", time.Now()))
	wantTokens(t, post(t, srv, "/token", assertionAuth("hs", assertion), clientCredentialsForm()))
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("hs", assertion), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")
}

// TestAssertionMethodsDoNotMix checks that each client must use the
// method it registered: an HMAC assertion for a private_key_jwt client, or
// any assertion for a client_secret_basic or public client, is refused.
func TestAssertionMethodsDoNotMix(t *testing.T) {
	t.Parallel()
	key := newClientKey(t, jose.ES256, "k1")
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{
		{ID: "jwt", AuthMethod: "private_key_jwt", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.public()}}},
		{ID: "basic", Secret: jwtSecret},
		{ID: "public"},
	}})
	hs := hmacAssertion(t, jose.HS256, jwtSecret, assertionClaims(srv, "jwt", time.Now()))
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("jwt", hs), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")
	basic := hmacAssertion(t, jose.HS256, jwtSecret, assertionClaims(srv, "basic", time.Now()))
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("basic", basic), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")
	public := hmacAssertion(t, jose.HS256, jwtSecret, assertionClaims(srv, "public", time.Now()))
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("public", public), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")
}

func TestClientSecretJWTAtOtherEndpoints(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{ID: "hs", Secret: jwtSecret, AuthMethod: "client_secret_jwt"}}})
	auth := func() clientAuth {
		return assertionAuth("hs", hmacAssertion(t, jose.HS256, jwtSecret, assertionClaims(srv, "hs", time.Now())))
	}
	tk := wantTokens(t, post(t, srv, "/token", auth(), clientCredentialsForm()))
	res := post(t, srv, "/introspect", auth(), url.Values{"token": {tk.AccessToken}})
	if res.status != http.StatusOK || res.json(t)["active"] != true {
		t.Errorf("introspection: status %d: %s", res.status, res.body)
	}
	if res := post(t, srv, "/device_authorization", auth(), nil); res.status != http.StatusOK {
		t.Errorf("device authorization: status %d: %s", res.status, res.body)
	}
}

func TestAddClientClientSecretJWT(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	if err := srv.AddClient(oidctest.Client{ID: "hs", AuthMethod: "client_secret_jwt"}); err == nil || !strings.Contains(err.Error(), "client_secret_jwt needs a Secret") {
		t.Errorf("AddClient without a Secret: %v", err)
	}
	if err := srv.AddClient(oidctest.Client{ID: "hs", Secret: "s", AuthMethod: "client_secret_jwt"}); err != nil {
		t.Errorf("AddClient: %v", err)
	}
}
