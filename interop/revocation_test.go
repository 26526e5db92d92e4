package interop

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/middleware"
)

// TestRevocation revokes tokens with Keyway's client at oidc-provider's
// revocation endpoint (RFC 7009) and checks that they stop working: an
// opaque access token at Keyway's middleware (introspection), a refresh token
// at the token endpoint.
func TestRevocation(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})

	t.Run("access token", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		c := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret"})
		introspect := middleware.Introspection{ClientID: "api", ClientSecret: "api-secret"}
		uncached := introspect
		uncached.CacheSize = -1
		noCache := newValidator(t, p, uncached, opaqueAPI)
		cached := newValidator(t, p, introspect, opaqueAPI)

		tok := clientCredentials(t, c, opaqueAPI).AccessToken
		for name, v := range map[string]*middleware.Validator{"uncached": noCache, "cached": cached} {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatalf("%s validator, before revocation: %v", name, err)
			}
		}
		if err := c.Revoke(ctx, tok, "access_token"); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		fresh := newValidator(t, p, introspect, opaqueAPI)
		for name, v := range map[string]*middleware.Validator{"uncached": noCache, "fresh": fresh} {
			if _, err := v.Verify(ctx, tok); !errors.Is(err, middleware.ErrInactive) {
				t.Errorf("%s validator, after revocation: %v, want ErrInactive", name, err)
			}
		}
		// As documented, a validator that cached the active answer sees the
		// revocation only when the entry ends (Introspection.MaxCacheTTL).
		if _, err := cached.Verify(ctx, tok); err != nil {
			t.Errorf("cached validator, after revocation: %v, want its cached answer", err)
		}
	})

	t.Run("refresh token", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		c := newClient(t, p, client.Config{ClientID: "cli", Scopes: []string{"openid", "offline_access"}})
		// oidc-provider keeps offline_access, and issues a refresh token,
		// only with prompt=consent.
		tok, _ := loopbackLogin(t, p, c, "ada", client.Prompt("consent"))
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token from a login with offline_access and prompt=consent")
		}
		refreshed, err := c.Refresh(ctx, tok.RefreshToken)
		if err != nil {
			t.Fatalf("Refresh before revocation: %v", err)
		}
		userinfo := p.discovery(t).UserinfoEndpoint
		if _, err := userinfoSubject(ctx, p.http, userinfo, refreshed.AccessToken); err != nil {
			t.Fatalf("the refreshed access token at userinfo, before revocation: %v", err)
		}
		if err := c.Revoke(ctx, refreshed.RefreshToken, "refresh_token"); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if _, err := c.Refresh(ctx, refreshed.RefreshToken); !errors.Is(err, client.ErrInvalidGrant) {
			t.Errorf("Refresh after revocation = %v, want ErrInvalidGrant", err)
		}
		// oidc-provider revokes the whole grant with its refresh token.
		if _, err := userinfoSubject(ctx, p.http, userinfo, refreshed.AccessToken); err == nil {
			t.Error("the grant's access token still works at userinfo after its refresh token was revoked")
		}
	})
}
