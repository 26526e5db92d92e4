package client

import (
	"context"
	"net/url"
	"strings"
)

// ClientCredentials asks for a token for the client itself (RFC 6749 §4.4),
// authenticated per Config.AuthMethod, which must not be AuthNone. The
// scope is Config.Scopes, space-joined, unless Param("scope", …) replaces
// it; Resource narrows the token to APIs (RFC 8707). The call is bounded by
// ctx and the HTTP client's timeout.
//
// An error answer is a *TokenError (e.g. invalid_client, invalid_scope).
// The response seldom has a refresh token; a ClientCredentialsSource
// simply asks again.
func (c *Client) ClientCredentials(ctx context.Context, opts ...TokenOption) (*Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	tok, err := c.token(ctx, form, c.withDefaultScope(opts))
	if err != nil {
		return nil, wrap("client credentials", err)
	}
	return tok, nil
}

// ClientCredentialsSource returns a TokenSource that gets its tokens with
// ClientCredentials: the first call to Token asks for one, later calls
// return it until it is within EarlyRefresh of its expiry, and then one
// new request serves every concurrent caller. RefreshWith sets the options
// of each request, RefreshTimeout bounds it, and OnRotate sees each new
// token (prev is nil for the first). A failed request while the current
// token is unexpired returns the current one.
//
// A token whose response had no expires_in is kept for the life of the
// source. The source is safe for concurrent use; pass it to HTTPClientFor
// for an *http.Client that authorizes its requests.
func (c *Client) ClientCredentialsSource(opts ...TokenSourceOption) *TokenSource {
	s := c.newTokenSource(nil, opts)
	s.fetch = func(ctx context.Context, _ *Token) (*Token, error) {
		return c.ClientCredentials(ctx, s.cfg.opts...)
	}
	return s
}

// withDefaultScope puts Config.Scopes before opts, so that a scope option
// among opts replaces it.
func (c *Client) withDefaultScope(opts []TokenOption) []TokenOption {
	if len(c.cfg.Scopes) == 0 {
		return opts
	}
	scope := Param("scope", strings.Join(c.cfg.Scopes, " "))
	return append([]TokenOption{scope}, opts...)
}
