package interop

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/middleware"
)

// These tests check opaque access tokens by RFC 7662 introspection at
// oidc-provider, which issues them for resources under urn:keyway:opaque:
// (see README.md): in examples/api, and in Keyway's middleware directly,
// beside JWT access tokens.

const (
	opaqueAPI   = "urn:keyway:opaque:api"   // opaque tokens, checked by introspection
	opaqueOther = "urn:keyway:opaque:other" // another API of the same server
	jwtAPI      = "urn:keyway:api"          // RFC 9068 JWT access tokens
)

func TestIntrospectionAPI(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	api := newExampleAPI(t)
	api.Audience = opaqueAPI
	api.startWithEnv(t, p, map[string]string{
		"INTROSPECTION_CLIENT_ID":     "api",
		"INTROSPECTION_CLIENT_SECRET": "api-secret",
	})
	c := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret"})

	tok := clientCredentials(t, c, opaqueAPI)
	if strings.Contains(tok.AccessToken, ".") {
		t.Fatalf("token for %s looks like a JWT, want an opaque one: %q", opaqueAPI, tok.AccessToken)
	}
	// oidc-provider's introspection answer for a client-credentials token
	// has no sub (its JWT access tokens carry sub = client_id).
	api.requireMe(t, tok.AccessToken, apiMe{Sub: "", ClientID: "service", Scope: []string{"api:read"}})

	for _, tt := range []struct {
		name  string
		token string
	}{
		{"opaque token for another API", clientCredentials(t, c, opaqueOther).AccessToken},
		{"opaque token for no resource", clientCredentials(t, c, "").AccessToken},
		{"JWT for another API", clientCredentials(t, c, jwtAPI).AccessToken},
		{"unknown token", rand.Text() + rand.Text()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			requireChallenge(t, api.get(t, "/me", "Bearer "+tt.token), "Bearer", "invalid_token")
		})
	}

	t.Run("DPoP-bound opaque token", func(t *testing.T) {
		dc := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret", DPoP: newDPoP(t)})
		bound := clientCredentials(t, dc, opaqueAPI)
		if !strings.EqualFold(bound.Type(), "DPoP") {
			t.Fatalf("token_type %q, want DPoP", bound.Type())
		}
		// Introspection answers its cnf.jkt: only the DPoP scheme with a
		// proof of the key is accepted.
		requireChallenge(t, api.get(t, "/me", "Bearer "+bound.AccessToken), "Bearer", "invalid_token")
		if status, me, _ := callMe(t, dc.HTTPClientFor(dc.TokenSource(bound)), api.URL+"/me"); status != http.StatusOK || me.ClientID != "service" {
			t.Errorf("GET /me with DPoP: %d %+v, want 200 for client service", status, me)
		}
	})
}

// TestMiddlewareJWTAndOpaque runs Keyway's middleware for an API with two
// audiences: one that oidc-provider issues JWT access tokens for, verified
// with its key set, and one it issues opaque tokens for, introspected.
func TestMiddlewareJWTAndOpaque(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret"})
	v := newValidator(t, p, middleware.Introspection{ClientID: "api", ClientSecret: "api-secret"}, jwtAPI, opaqueAPI)

	for _, tt := range []struct {
		resource string
		jwt      bool
		sub      string // introspection answers no sub for client credentials
	}{
		{jwtAPI, true, "service"},
		{opaqueAPI, false, ""},
	} {
		tok := clientCredentials(t, c, tt.resource).AccessToken
		if isJWT := strings.Count(tok, ".") == 2; isJWT != tt.jwt {
			t.Fatalf("token for %s: JWT %t, want %t", tt.resource, isJWT, tt.jwt)
		}
		claims, err := v.Verify(ctx, tok)
		if err != nil {
			t.Errorf("Verify(token for %s): %v", tt.resource, err)
			continue
		}
		if !slices.Equal(claims.Audience(), []string{tt.resource}) || claims.ClientID() != "service" || claims.Subject() != tt.sub ||
			claims.Issuer() != p.Issuer || !slices.Equal(claims.Scopes(), []string{"api:read"}) {
			t.Errorf("token for %s: aud %q, client_id %q, sub %q, iss %q, scope %q",
				tt.resource, claims.Audience(), claims.ClientID(), claims.Subject(), claims.Issuer(), claims.Scopes())
		}
	}

	for _, tt := range []struct {
		name  string
		token string
		want  error
	}{
		{"opaque token for another API", clientCredentials(t, c, opaqueOther).AccessToken, middleware.ErrInvalidAudience},
		{"JWT for another API", clientCredentials(t, c, "urn:keyway:other").AccessToken, middleware.ErrInvalidAudience},
		{"unknown opaque token", rand.Text() + rand.Text(), middleware.ErrInactive},
	} {
		if _, err := v.Verify(ctx, tt.token); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Wrong credentials for introspection: the token is refused, not judged.
	wrong := newValidator(t, p, middleware.Introspection{ClientID: "api", ClientSecret: "wrong-secret"}, opaqueAPI)
	if _, err := wrong.Verify(ctx, clientCredentials(t, c, opaqueAPI).AccessToken); !errors.Is(err, middleware.ErrIntrospection) {
		t.Errorf("Verify with a wrong introspection secret = %v, want ErrIntrospection", err)
	}
}

// newValidator returns Keyway's middleware for tokens of p for audiences,
// opaque ones introspected with in. It is closed in t.Cleanup.
func newValidator(t testing.TB, p *provider, in middleware.Introspection, audiences ...string) *middleware.Validator {
	t.Helper()
	v, err := middleware.New(t.Context(), middleware.Config{Issuer: p.Issuer, Audiences: audiences, Introspection: &in})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// clientCredentials returns a client-credentials token of c with scope
// api:read for resource, or for none when resource is "".
func clientCredentials(t testing.TB, c *client.Client, resource string) *client.Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	opts := []client.TokenOption{client.Scopes("api:read")}
	if resource != "" {
		opts = append(opts, client.Resource(resource))
	}
	tok, err := c.ClientCredentials(ctx, opts...)
	if err != nil {
		t.Fatalf("interop: client credentials for %q: %v", resource, err)
	}
	return tok
}

// startWithEnv is start with more of the API's environment: extra is added
// to what start sets.
func (a *exampleAPI) startWithEnv(t testing.TB, p *provider, extra map[string]string) {
	t.Helper()
	vars := map[string]string{
		"OIDC_ISSUER":  p.Issuer,
		"API_AUDIENCE": a.Audience,
		"ADDR":         a.ln.Addr().String(),
	}
	maps.Copy(vars, extra)
	cmd := exec.Command(exampleBinary(t, &apiBuild, "api"))
	cmd.Env = webappEnv(vars)
	a.ln.Close() // free the port for the API (see startWebapp)
	exited, logs := runExample(t, cmd, "the API")
	a.waitReady(t, exited, logs)
}
