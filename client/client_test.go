package client_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/client"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	base := func() client.Config {
		return client.Config{
			ClientID:     "app",
			ClientSecret: "s",
			Endpoint: client.Endpoint{
				Issuer:   "https://op.example",
				AuthURL:  "https://op.example/authorize",
				TokenURL: "https://op.example/token",
				PARURL:   "https://op.example/par",
			},
			RedirectURL: "https://app.example/callback",
		}
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name    string
		edit    func(*client.Config)
		wantErr string // empty: New succeeds
	}{
		{"valid", func(*client.Config) {}, ""},
		{"no client ID", func(c *client.Config) { c.ClientID = "" }, "ClientID"},
		{"no token URL", func(c *client.Config) { c.Endpoint.TokenURL = "" }, "TokenURL"},
		{"http token URL", func(c *client.Config) { c.Endpoint.TokenURL = "http://op.example/token" }, "not loopback"},
		{"http issuer", func(c *client.Config) { c.Endpoint.Issuer = "http://op.example" }, "not loopback"},
		{"http auth URL", func(c *client.Config) { c.Endpoint.AuthURL = "http://op.example/a" }, "not loopback"},
		{"http PAR URL", func(c *client.Config) { c.Endpoint.PARURL = "http://op.example/par" }, "not loopback"},
		{"http revocation URL", func(c *client.Config) { c.Endpoint.RevocationURL = "http://op.example/r" }, "not loopback"},
		{"http redirect URL", func(c *client.Config) { c.RedirectURL = "http://app.example/cb" }, "not loopback"},
		{"http allowed when insecure", func(c *client.Config) {
			c.Endpoint.TokenURL = "http://op.example/token"
			c.InsecureAllowHTTP = true
		}, ""},
		{"http on 127.0.0.1", func(c *client.Config) { c.Endpoint.TokenURL = "http://127.0.0.1:8080/token" }, ""},
		{"http on localhost", func(c *client.Config) { c.Endpoint.TokenURL = "http://localhost:8080/token" }, ""},
		{"http on ::1", func(c *client.Config) { c.Endpoint.TokenURL = "http://[::1]:8080/token" }, ""},
		{"http on localhost-like host", func(c *client.Config) { c.Endpoint.TokenURL = "http://localhost.evil.example/token" }, "not loopback"},
		{"other scheme", func(c *client.Config) { c.Endpoint.TokenURL = "ftp://op.example/token" }, "https"},
		{"relative URL", func(c *client.Config) { c.Endpoint.TokenURL = "/token" }, "absolute"},
		{"fragment", func(c *client.Config) { c.Endpoint.TokenURL = "https://op.example/token#x" }, "fragment"},
		{"native redirect scheme", func(c *client.Config) { c.RedirectURL = "com.example.app:/callback" }, ""},
		{"basic without secret", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod = "", client.AuthClientSecretBasic
		}, "ClientSecret"},
		{"post without secret", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod = "", client.AuthClientSecretPost
		}, "ClientSecret"},
		{"none with secret", func(c *client.Config) { c.AuthMethod = client.AuthNone }, "ClientSecret"},
		{"no secret means none", func(c *client.Config) { c.ClientSecret = "" }, ""},
		{"unknown method", func(c *client.Config) { c.AuthMethod = "tls_client_auth" }, "unsupported"},
		{"private_key_jwt without key", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod = "", client.AuthPrivateKeyJWT
		}, "PrivateKey"},
		{"private_key_jwt without issuer", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod, c.PrivateKey = "", client.AuthPrivateKeyJWT, ecKey()
			c.Endpoint.Issuer, c.Endpoint.IssParameterSupported = "", false
		}, "Issuer"},
		{"private_key_jwt with wrong alg", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod, c.PrivateKey, c.SigningAlg = "", client.AuthPrivateKeyJWT, ecKey(), "RS256"
		}, "SigningAlg"},
		{"private_key_jwt with HS256", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod, c.PrivateKey, c.SigningAlg = "", client.AuthPrivateKeyJWT, rsaKey(), "HS256"
		}, "SigningAlg"},
		{"private_key_jwt with Ed25519", func(c *client.Config) {
			c.ClientSecret, c.AuthMethod, c.PrivateKey = "", client.AuthPrivateKeyJWT, edKey
		}, ""},
		{"UsePAR without PAR URL", func(c *client.Config) { c.UsePAR, c.Endpoint.PARURL = true, "" }, "PARURL"},
		{"RequirePAR without PAR URL", func(c *client.Config) {
			c.Endpoint.RequirePAR, c.Endpoint.PARURL = true, ""
		}, "PARURL"},
		{"iss support without issuer", func(c *client.Config) {
			c.Endpoint.Issuer, c.Endpoint.IssParameterSupported = "", true
		}, "Issuer"},
		{"negative MaxResponseBytes", func(c *client.Config) { c.MaxResponseBytes = -1 }, "MaxResponseBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tt.edit(&cfg)
			_, err := client.New(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("New succeeded, want an error about %s", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("New: %v, want an error about %s", err, tt.wantErr)
			}
		})
	}
}
