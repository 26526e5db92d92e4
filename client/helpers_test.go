package client_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"github.com/keyway-go/keyway/internal/testenv"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

const redirectURI = "http://127.0.0.1:9999/callback"

// Client IDs registered by newFixture, one per authentication method. The
// basic client's ID and secret need form-encoding (RFC 6749 §2.3.1).
const (
	basicID  = "basic:client"
	secret   = "s3cret+/%: x"
	postID   = "post-client"
	ecJWTID  = "jwt-ec"
	rsaJWTID = "jwt-rsa"
	publicID = "public-client"
)

var (
	ecKey  = sync.OnceValue(func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k })
	rsaKey = sync.OnceValue(func() crypto.Signer { k, _ := rsa.GenerateKey(rand.Reader, 2048); return k })
)

// fixture is a provider with one client per authentication method.
type fixture struct {
	srv *oidctest.Server
}

func newFixture(t testing.TB, cfg oidctest.Config) *fixture {
	t.Helper()
	jwks := func(k crypto.Signer, kid string) jose.JSONWebKeySet {
		return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: kid, Use: "sig"}}}
	}
	redirects := []string{redirectURI, redirectURI + "/other"}
	cfg.Clients = append(cfg.Clients,
		oidctest.Client{ID: basicID, Secret: secret, RedirectURIs: redirects},
		oidctest.Client{ID: postID, Secret: secret, AuthMethod: "client_secret_post", RedirectURIs: redirects},
		oidctest.Client{ID: ecJWTID, AuthMethod: "private_key_jwt", JWKS: jwks(ecKey(), "ec-1"), RedirectURIs: redirects},
		oidctest.Client{ID: rsaJWTID, AuthMethod: "private_key_jwt", JWKS: jwks(rsaKey(), "rsa-1"), RedirectURIs: redirects},
		oidctest.Client{ID: publicID, RedirectURIs: redirects},
	)
	srv := oidctest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv}
}

// endpoint describes f's provider as discovery would.
func (f *fixture) endpoint() client.Endpoint {
	iss := f.srv.Issuer
	return client.Endpoint{
		Issuer:                iss,
		AuthURL:               iss + "/authorize",
		TokenURL:              iss + "/token",
		PARURL:                iss + "/par",
		RevocationURL:         iss + "/revoke",
		IssParameterSupported: true,
	}
}

// config returns a Config for the client registered as id.
func (f *fixture) config(id string) client.Config {
	cfg := client.Config{
		ClientID:    id,
		Endpoint:    f.endpoint(),
		RedirectURL: redirectURI,
		Scopes:      []string{"openid", "profile", "offline_access"},
	}
	switch id {
	case basicID:
		cfg.ClientSecret = secret
	case postID:
		cfg.ClientSecret, cfg.AuthMethod = secret, client.AuthClientSecretPost
	case ecJWTID:
		cfg.AuthMethod, cfg.PrivateKey, cfg.KeyID = client.AuthPrivateKeyJWT, ecKey(), "ec-1"
	case rsaJWTID:
		cfg.AuthMethod, cfg.PrivateKey, cfg.KeyID, cfg.SigningAlg = client.AuthPrivateKeyJWT, rsaKey(), "rsa-1", "PS256"
	}
	return cfg
}

// client returns a Client for id, with edit applied to its Config.
func (f *fixture) client(t testing.TB, id string, edit func(*client.Config)) *client.Client {
	t.Helper()
	cfg := f.config(id)
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

// login runs an authorization request through the provider and redeems
// the code.
func (f *fixture) login(t testing.TB, c *client.Client, opts ...client.AuthOption) (*client.AuthRequest, *client.Token) {
	t.Helper()
	req, err := c.AuthCodeURL(t.Context(), opts...)
	if err != nil {
		t.Fatalf("AuthCodeURL: %v", err)
	}
	code, err := c.ParseResponse(authorize(t, req.URL), req)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	tok, err := c.Exchange(t.Context(), code, req)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return req, tok
}

// noRedirects is a browser that stops at the provider's redirect.
var noRedirects = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// authorize plays the browser at authURL and returns the parameters the
// provider sends to the redirect URI, by redirect or form post.
func authorize(t testing.TB, authURL string) url.Values {
	t.Helper()
	resp, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorization URL: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		b, _ := io.ReadAll(resp.Body)
		params := url.Values{}
		for _, m := range hiddenInput.FindAllStringSubmatch(string(b), -1) {
			params.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
		}
		if len(params) == 0 {
			t.Fatalf("authorization endpoint answered a page without a form post: %s", b)
		}
		return params
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization endpoint answered %s", resp.Status)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; !strings.HasPrefix(got, redirectURI) {
		t.Fatalf("redirected to %s, want the redirect URI", got)
	}
	return loc.Query()
}

// jwtClaims decodes the payload of a compact JWS without verifying it.
func jwtClaims(t testing.TB, jws string) map[string]any {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", jws)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWS payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatalf("JWS payload: %v", err)
	}
	return claims
}

// clock is an adjustable clock for Config.Now.
type clock = testenv.Clock

func newClock() *clock { return testenv.NewClock(time.Now()) }
