package oidctest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyway-go/keyway/oidctest"
)

// TestClientSecretBasicEncoding checks that both parts of the Basic
// credentials are form-decoded (RFC 6749 §2.3.1), as x/oauth2 encodes them.
func TestClientSecretBasicEncoding(t *testing.T) {
	t.Parallel()
	const id, secret = "a:b", "p@ss word+%"
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{ID: id, Secret: secret}}})
	conf := &clientcredentials.Config{
		ClientID: id, ClientSecret: secret,
		TokenURL:  srv.Issuer + "/token",
		AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := conf.Token(t.Context())
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	wantClaims(t, verifyJWT(t, srv, tok.AccessToken), map[string]any{"client_id": id, "sub": id})

	// Unencoded credentials are read as form-encoded and do not match.
	req, _ := http.NewRequest(http.MethodPost, srv.Issuer+"/token", strings.NewReader(clientCredentialsForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("a:b", "p@ss word+%")
	res, err := do(srv.Client(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != http.StatusUnauthorized {
		t.Errorf("unencoded credentials: status %d, want 401", res.status)
	}
}

func TestClientSecretPostWithOAuth2(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{ID: "c", Secret: "p@ss word", AuthMethod: "client_secret_post"}}})
	conf := &clientcredentials.Config{
		ClientID: "c", ClientSecret: "p@ss word",
		TokenURL:  srv.Issuer + "/token",
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if _, err := conf.Token(t.Context()); err != nil {
		t.Fatalf("Token: %v", err)
	}
}

// TestClientAuthentication checks each method at the token endpoint. A
// public client that authenticates reaches the grant and gets
// unauthorized_client; one that fails gets invalid_client.
func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	clients := []oidctest.Client{
		{ID: "basic", Secret: "basic-secret"},
		{ID: "post", Secret: "post-secret", AuthMethod: "client_secret_post"},
		{ID: "public"},
	}
	tests := []struct {
		name   string
		auth   clientAuth
		status int
		code   string // "" for success
	}{
		{"basic", secretBasic("basic", "basic-secret"), http.StatusOK, ""},
		{"basic, wrong secret", secretBasic("basic", "basic-secret!"), http.StatusUnauthorized, "invalid_client"},
		{"basic, empty secret", secretBasic("basic", ""), http.StatusUnauthorized, "invalid_client"},
		{"basic client using post", secretPost("basic", "basic-secret"), http.StatusUnauthorized, "invalid_client"},
		{"basic client using none", public("basic"), http.StatusUnauthorized, "invalid_client"},
		{"basic with matching client_id", both(secretBasic("basic", "basic-secret"), public("basic")), http.StatusOK, ""},
		{"basic with another client_id", both(secretBasic("basic", "basic-secret"), public("post")), http.StatusBadRequest, "invalid_request"},
		{"post", secretPost("post", "post-secret"), http.StatusOK, ""},
		{"post, wrong secret", secretPost("post", "basic-secret"), http.StatusUnauthorized, "invalid_client"},
		{"post client using basic", secretBasic("post", "post-secret"), http.StatusUnauthorized, "invalid_client"},
		{"none", public("public"), http.StatusBadRequest, "unauthorized_client"},
		{"public client using basic", secretBasic("public", ""), http.StatusUnauthorized, "invalid_client"},
		{"public client using post", secretPost("public", ""), http.StatusUnauthorized, "invalid_client"},
		{"basic and post", both(secretBasic("basic", "basic-secret"), secretPost("basic", "basic-secret")), http.StatusBadRequest, "invalid_request"},
		{"post and assertion", both(secretPost("post", "post-secret"), func(_ http.Header, f url.Values) {
			f.Set("client_assertion", "x.y.z")
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		}), http.StatusBadRequest, "invalid_request"},
		{"unknown client", secretBasic("nobody", "x"), http.StatusUnauthorized, "invalid_client"},
		{"no authentication", nil, http.StatusUnauthorized, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{Clients: clients})
			res := post(t, srv, "/token", tt.auth, clientCredentialsForm())
			if tt.code == "" {
				wantTokens(t, res)
				return
			}
			wantOAuthError(t, res, tt.status, tt.code)
			if tt.status == http.StatusUnauthorized && res.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

// clientKey is a private_key_jwt client's key pair.
type clientKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newClientKey(t testing.TB, alg jose.SignatureAlgorithm, kid string) clientKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{alg: alg, kid: kid, priv: priv}
}

func (k clientKey) public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// sign makes a client assertion of claims.
func (k clientKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	return signCompact(t, jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts, claims)
}

func assertionClaims(srv *oidctest.Server, clientID string, now time.Time) map[string]any {
	return map[string]any{
		"iss": clientID,
		"sub": clientID,
		"aud": srv.Issuer,
		"iat": now.Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"jti": oauth2.GenerateVerifier(),
	}
}

func assertionAuth(clientID, assertion string) clientAuth {
	return func(_ http.Header, form url.Values) {
		if clientID != "" {
			form.Set("client_id", clientID)
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	t.Parallel()
	key := newClientKey(t, jose.ES256, "k1")
	rsaKey := newClientKey(t, jose.RS256, "k2")
	otherKey := newClientKey(t, jose.ES256, "k1")
	tests := []struct {
		name string
		key  clientKey
		edit func(claims map[string]any, srv *oidctest.Server)
		// auth builds the client authentication; nil means the
		// assertion with client_id "jwt".
		auth func(assertion string) clientAuth
		code string // "" for success
	}{
		{name: "valid", key: key},
		{name: "valid RSA key", key: rsaKey},
		{name: "aud is the token endpoint", key: key, edit: func(c map[string]any, srv *oidctest.Server) { c["aud"] = srv.Issuer + "/token" }},
		{name: "aud is an array with the issuer", key: key, edit: func(c map[string]any, srv *oidctest.Server) { c["aud"] = []string{"https://x.example", srv.Issuer} }},
		{name: "client_id from the assertion", key: key, auth: func(a string) clientAuth { return assertionAuth("", a) }},
		{name: "key without kid", key: clientKey{alg: key.alg, priv: key.priv}},
		{name: "wrong key", key: otherKey, code: "invalid_client"},
		{name: "unknown kid", key: clientKey{alg: key.alg, kid: "k9", priv: key.priv}, code: "invalid_client"},
		{name: "expired", key: key, edit: func(c map[string]any, _ *oidctest.Server) { c["exp"] = time.Now().Add(-time.Second).Unix() }, code: "invalid_client"},
		{name: "no exp", key: key, edit: func(c map[string]any, _ *oidctest.Server) { delete(c, "exp") }, code: "invalid_client"},
		{name: "wrong aud", key: key, edit: func(c map[string]any, _ *oidctest.Server) { c["aud"] = "https://other.example.com" }, code: "invalid_client"},
		{name: "aud is the userinfo endpoint", key: key, edit: func(c map[string]any, srv *oidctest.Server) { c["aud"] = srv.Issuer + "/userinfo" }, code: "invalid_client"},
		{name: "iss is not sub", key: key, edit: func(c map[string]any, _ *oidctest.Server) { c["iss"] = "someone" }, code: "invalid_client"},
		{name: "sub is another client", key: key, edit: func(c map[string]any, _ *oidctest.Server) { c["sub"] = appID }, code: "invalid_client"},
		{name: "no jti", key: key, edit: func(c map[string]any, _ *oidctest.Server) { delete(c, "jti") }, code: "invalid_client"},
		{name: "wrong client_assertion_type", key: key, auth: func(a string) clientAuth {
			return both(assertionAuth("jwt", a), set2("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"))
		}, code: "invalid_client"},
		{name: "no client_assertion_type", key: key, auth: func(a string) clientAuth {
			return both(assertionAuth("jwt", a), func(_ http.Header, f url.Values) { f.Del("client_assertion_type") })
		}, code: "invalid_client"},
		{name: "malformed assertion", key: key, auth: func(string) clientAuth { return assertionAuth("jwt", "not.a.jwt") }, code: "invalid_client"},
		{name: "unsigned assertion", key: key, auth: func(a string) clientAuth {
			return assertionAuth("jwt", a[:strings.LastIndexByte(a, '.')+1])
		}, code: "invalid_client"},
		{name: "another client's assertion", key: key, auth: func(a string) clientAuth { return assertionAuth(appID, a) }, code: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{appClient(), {
				ID:         "jwt",
				AuthMethod: "private_key_jwt",
				JWKS:       jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.public(), rsaKey.public()}},
			}}})
			claims := assertionClaims(srv, "jwt", time.Now())
			if tt.edit != nil {
				tt.edit(claims, srv)
			}
			assertion := tt.key.sign(t, claims)
			auth := assertionAuth("jwt", assertion)
			if tt.auth != nil {
				auth = tt.auth(assertion)
			}
			res := post(t, srv, "/token", auth, clientCredentialsForm())
			if tt.code == "" {
				wantClaims(t, verifyJWT(t, srv, wantTokens(t, res).AccessToken), map[string]any{"client_id": "jwt"})
				return
			}
			wantOAuthError(t, res, http.StatusUnauthorized, tt.code)
		})
	}
}

func set2(k, v string) clientAuth {
	return func(_ http.Header, f url.Values) { f.Set(k, v) }
}

func TestPrivateKeyJWTReplay(t *testing.T) {
	t.Parallel()
	key := newClientKey(t, jose.ES256, "k1")
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now, Clients: []oidctest.Client{
		{ID: "jwt", AuthMethod: "private_key_jwt", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.public()}}},
		{ID: "jwt2", AuthMethod: "private_key_jwt", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.public()}}},
	}})
	claims := assertionClaims(srv, "jwt", clk.Now())
	assertion := key.sign(t, claims)
	wantTokens(t, post(t, srv, "/token", assertionAuth("jwt", assertion), clientCredentialsForm()))
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("jwt", assertion), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")

	// The jti is remembered per client, not across clients.
	other := maps.Clone(claims)
	other["iss"], other["sub"] = "jwt2", "jwt2"
	wantTokens(t, post(t, srv, "/token", assertionAuth("jwt2", key.sign(t, other)), clientCredentialsForm()))

	// A fresh assertion with the same jti is a replay too.
	clk.Advance(30 * time.Second)
	claims["exp"] = clk.Now().Add(time.Minute).Unix()
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("jwt", key.sign(t, claims)), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")
}

func TestPrivateKeyJWTExpiryUsesServerClock(t *testing.T) {
	t.Parallel()
	key := newClientKey(t, jose.ES256, "k1")
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now, Clients: []oidctest.Client{
		{ID: "jwt", AuthMethod: "private_key_jwt", JWKS: jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.public()}}},
	}})
	assertion := key.sign(t, assertionClaims(srv, "jwt", clk.Now()))
	clk.Advance(time.Minute)
	wantOAuthError(t, post(t, srv, "/token", assertionAuth("jwt", assertion), clientCredentialsForm()), http.StatusUnauthorized, "invalid_client")
}

// TestClientAuthenticationAtOtherEndpoints checks that PAR, revocation and
// introspection authenticate the client as the token endpoint does.
func TestClientAuthenticationAtOtherEndpoints(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/par", "/revoke", "/introspect"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			form := url.Values{"token": {"x"}}
			wantOAuthError(t, post(t, srv, path, secretBasic(appID, "wrong"), form), http.StatusUnauthorized, "invalid_client")
			wantOAuthError(t, post(t, srv, path, secretPost(appID, appSecret), form), http.StatusUnauthorized, "invalid_client")
			wantOAuthError(t, post(t, srv, path, nil, form), http.StatusUnauthorized, "invalid_client")
		})
	}
}
