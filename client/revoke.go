package client

import (
	"context"
	"errors"
	"net/url"
)

// Revoke asks the server to revoke token (RFC 7009), authenticated like a
// token request. hint is "refresh_token", "access_token" or empty.
// Revoking a refresh token usually revokes its whole grant. The server
// answers success for unknown tokens too, so nil does not prove the token
// was valid.
func (c *Client) Revoke(ctx context.Context, token, hint string) error {
	if c.cfg.Endpoint.RevocationURL == "" {
		return errors.New("client: Endpoint.RevocationURL is not configured")
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	// No DPoP proof: revocation issues no token to bind.
	if _, _, err := c.postForm(ctx, c.cfg.Endpoint.RevocationURL, form, false); err != nil {
		return wrap("revocation", err)
	}
	return nil
}
