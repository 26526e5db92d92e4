package client

import (
	"context"
	"fmt"
	"net/url"
)

// Exchange redeems an authorization code that ParseResponse returned for
// req: it sends the code, req's PKCE verifier and redirect URI, and opts
// (e.g. Resource), authenticated per Config.AuthMethod. The call is
// bounded by ctx and the HTTP client's timeout.
//
// An error answer is a *TokenError (errors.Is(err, ErrInvalidGrant) for a
// used, expired or foreign code, or a wrong verifier). The ID token, if
// any, is returned unverified.
func (c *Client) Exchange(ctx context.Context, code string, req *AuthRequest, opts ...TokenOption) (*Token, error) {
	if err := c.checkRequest(req); err != nil {
		return nil, err
	}
	if code == "" {
		return nil, fmt.Errorf("%w: no code", ErrMalformedResponse)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {req.Verifier},
	}
	if req.RedirectURL != "" {
		form.Set("redirect_uri", req.RedirectURL)
	}
	tok, err := c.token(ctx, form, opts)
	if err != nil {
		return nil, wrap("code exchange", err)
	}
	return tok, nil
}

// token posts a token request with the extra parameters of opts and reads
// the token response.
func (c *Client) token(ctx context.Context, form url.Values, opts []TokenOption) (*Token, error) {
	p := params{v: url.Values{}}
	for _, o := range opts {
		o.setToken(&p)
	}
	if p.err != nil {
		return nil, p.err
	}
	for k, vs := range form {
		p.v[k] = vs
	}
	status, body, err := c.post(ctx, c.cfg.Endpoint.TokenURL, p.v)
	if err != nil {
		return nil, err
	}
	return parseToken(status, body, c.now())
}
