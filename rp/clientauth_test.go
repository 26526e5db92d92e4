package rp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, appConfig{
		client: func(c *oidctest.Client) {
			c.Secret = ""
			c.AuthMethod = "private_key_jwt"
			c.JWKS = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "app-1", Algorithm: "ES256", Use: "sig"}}}
		},
		edit: func(c *rp.Config) {
			c.ClientSecret = ""
			c.AuthMethod = client.AuthPrivateKeyJWT
			c.PrivateKey = key
			c.KeyID = "app-1"
		},
	})
	a.login(t, a.browser, "/")
	a.whoami(t, a.browser)
	tok := a.op.Requests(oidctest.EndpointToken)[0]
	if tok.Form.Get("client_assertion") == "" || tok.Header.Get("Authorization") != "" || tok.Form.Has("client_secret") {
		t.Fatalf("token request is not authenticated with private_key_jwt: %v", tok.Form)
	}
}

func TestPublicClient(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{
		client: func(c *oidctest.Client) { c.Secret = "" },
		edit:   func(c *rp.Config) { c.ClientSecret = "" },
	})
	a.login(t, a.browser, "/")
	a.whoami(t, a.browser)
	tok := a.op.Requests(oidctest.EndpointToken)[0]
	if tok.Header.Get("Authorization") != "" || tok.Form.Has("client_secret") || tok.Form.Has("client_assertion") ||
		tok.Form.Get("client_id") != "app" || tok.Form.Get("code_verifier") == "" {
		t.Fatalf("public client's token request: %v %v", tok.Header, tok.Form)
	}
}

func TestClientSecretPost(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{
		client: func(c *oidctest.Client) { c.AuthMethod = "client_secret_post" },
		edit:   func(c *rp.Config) { c.AuthMethod = client.AuthClientSecretPost },
	})
	a.login(t, a.browser, "/")
	if tok := a.op.Requests(oidctest.EndpointToken)[0]; tok.Form.Get("client_secret") != "app-secret" {
		t.Fatalf("token request without client_secret: %v", tok.Form)
	}
}
