package client_test

import (
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

func TestRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	for _, id := range []string{basicID, ecJWTID, publicID} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			c := f.client(t, id, nil)
			_, tok := f.login(t, c)
			if err := c.Revoke(t.Context(), tok.RefreshToken, "refresh_token"); err != nil {
				t.Fatal(err)
			}
			var mine []oidctest.Request
			for _, r := range f.srv.Requests(oidctest.EndpointRevoke) {
				if r.Form.Get("token") == tok.RefreshToken {
					mine = append(mine, r)
				}
			}
			if len(mine) != 1 || mine[0].Form.Get("token_type_hint") != "refresh_token" {
				t.Fatalf("revocation requests %v", mine)
			}
			assertAuthenticated(t, id, mine[0])
			_, err := c.Refresh(t.Context(), tok.RefreshToken)
			wantIs(t, err, client.ErrInvalidGrant)
		})
	}
	t.Run("no endpoint", func(t *testing.T) {
		t.Parallel()
		c := f.client(t, basicID, func(cfg *client.Config) { cfg.Endpoint.RevocationURL = "" })
		if err := c.Revoke(t.Context(), "x", ""); err == nil {
			t.Fatal("Revoke without an endpoint succeeded")
		}
	})
	t.Run("error", func(t *testing.T) {
		t.Parallel()
		c := f.client(t, basicID, func(cfg *client.Config) { cfg.ClientSecret = "wrong" })
		if te := asTokenError(t, c.Revoke(t.Context(), "x", "")); te.Code != "invalid_client" {
			t.Fatalf("code %q, want invalid_client", te.Code)
		}
	})
}
