package client_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

var (
	secret32 = strings.Repeat("k", 32)
	secret48 = strings.Repeat("k", 48)
	secret64 = strings.Repeat("k", 64)
)

func TestClientSecretJWTConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*client.Config)
		ok   bool
	}{
		{"HS256 default", func(cfg *client.Config) {}, true},
		{"HS384", func(cfg *client.Config) { cfg.SigningAlg, cfg.ClientSecret = "HS384", secret48 }, true},
		{"HS512", func(cfg *client.Config) { cfg.SigningAlg, cfg.ClientSecret = "HS512", secret64 }, true},
		{"no secret", func(cfg *client.Config) { cfg.ClientSecret = "" }, false},
		{"short secret", func(cfg *client.Config) { cfg.ClientSecret = secret32[1:] }, false},
		{"HS384 with a 32-byte secret", func(cfg *client.Config) { cfg.SigningAlg = "HS384" }, false},
		{"HS512 with a 48-byte secret", func(cfg *client.Config) { cfg.SigningAlg, cfg.ClientSecret = "HS512", secret48 }, false},
		{"asymmetric alg", func(cfg *client.Config) { cfg.SigningAlg = "RS256" }, false},
		{"no issuer", func(cfg *client.Config) { cfg.Endpoint.Issuer = "" }, false},
		{"private key too", func(cfg *client.Config) { cfg.PrivateKey = ecKey() }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := client.Config{
				ClientID: "app", ClientSecret: secret32, AuthMethod: client.AuthClientSecretJWT,
				Endpoint: client.Endpoint{Issuer: "https://as.example", TokenURL: "https://as.example/token"},
			}
			tt.edit(&cfg)
			_, err := client.New(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New: %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

func TestClientSecretJWTAssertion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg    jose.SignatureAlgorithm
		secret string
	}{
		{jose.HS256, secret32},
		{jose.HS384, secret48},
		{jose.HS512, secret64},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(200, tokenJSON)})
			clk := newClock()
			c := as.client(t, func(cfg *client.Config) {
				cfg.AuthMethod, cfg.ClientSecret, cfg.SigningAlg, cfg.Now = client.AuthClientSecretJWT, tt.secret, string(tt.alg), clk.Now
			})
			for range 2 {
				if _, err := c.ClientCredentials(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			var jtis []any
			for _, r := range as.requests("/token") {
				if r.form.Has("client_secret") || r.header.Get("Authorization") != "" {
					t.Fatal("the secret itself was sent")
				}
				if r.form.Get("client_id") != "app" || r.form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
					t.Fatalf("form %v", r.form)
				}
				claims := verifyHMAC(t, r.form.Get("client_assertion"), tt.alg, tt.secret)
				now := clk.Now().Unix()
				if claims["iss"] != "app" || claims["sub"] != "app" || claims["aud"] != as.srv.URL ||
					claims["iat"] != float64(now) || claims["exp"] != float64(now+60) {
					t.Fatalf("claims %v", claims)
				}
				jtis = append(jtis, claims["jti"])
			}
			if jtis[0] == "" || jtis[0] == jtis[1] {
				t.Fatalf("jti %v, want a fresh one each time", jtis)
			}
		})
	}
}

// verifyHMAC verifies a compact JWS with secret, which must be signed with
// alg, and returns its claims.
func verifyHMAC(t testing.TB, assertion string, alg jose.SignatureAlgorithm, secret string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(assertion, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("assertion: %v", err)
	}
	payload, err := jws.Verify([]byte(secret))
	if err != nil {
		t.Fatalf("assertion does not verify with the secret: %v", err)
	}
	if _, err := jws.Verify([]byte(secret + "x")); err == nil {
		t.Fatal("assertion verifies with another secret")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestClientSecretJWTOIDCTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	if err := f.srv.AddClient(oidctest.Client{ID: "jwt-secret", Secret: secret64, AuthMethod: "client_secret_jwt",
		RedirectURIs: []string{redirectURI}}); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			c := f.client(t, "jwt-secret", func(cfg *client.Config) {
				cfg.AuthMethod, cfg.ClientSecret, cfg.SigningAlg = client.AuthClientSecretJWT, secret64, alg
			})
			if _, err := c.ClientCredentials(t.Context()); err != nil {
				t.Fatal(err)
			}
			_, tok := f.login(t, c)
			if _, err := c.Refresh(t.Context(), tok.RefreshToken); err != nil {
				t.Fatal(err)
			}
		})
	}
	wrong := f.client(t, "jwt-secret", func(cfg *client.Config) {
		cfg.AuthMethod, cfg.ClientSecret = client.AuthClientSecretJWT, strings.Repeat("x", 64)
	})
	_, err := wrong.ClientCredentials(t.Context())
	if te := asTokenError(t, err); te.Code != "invalid_client" {
		t.Fatalf("wrong secret: code %q", te.Code)
	}
}
