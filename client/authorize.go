package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// AuthRequest is one authorization request: the URL to send the user to
// and the secrets that must come back with (or be used after) the
// response. The caller keeps it, out of the user's reach (the rp seals it
// into a cookie), until ParseResponse and Exchange, and then forgets it: it
// is valid for one response only.
type AuthRequest struct {
	// URL is the authorization URL to redirect the user to.
	URL string `json:"url"`
	// State is the random state parameter (256 bits, base64url).
	State string `json:"state"`
	// Nonce is the random OpenID Connect nonce (256 bits, base64url). The
	// client sends it; the rp checks it in the ID token.
	Nonce string `json:"nonce"`
	// Verifier is the PKCE code verifier; its S256 challenge was sent.
	Verifier string `json:"verifier"`
	// Issuer is the issuer the request was made to: the iss of the
	// response must match it (RFC 9207).
	Issuer string `json:"issuer,omitempty"`
	// RedirectURL is the request's redirect URI, sent again with the code.
	RedirectURL string `json:"redirect_url"`
}

// AuthCodeURL starts an authorization code request with PKCE (S256), a
// fresh state and a fresh nonce. With Config.UsePAR or
// Endpoint.RequirePAR the parameters are first pushed to the PAR endpoint,
// authenticated like a token request (with a DPoP proof when Config.DPoP
// is set), and the URL carries only client_id and request_uri; ctx bounds
// that push. With Config.DPoP the request carries dpop_jkt, the key's
// thumbprint, so that the code can only be redeemed with that key. Scopes
// come from Config.Scopes unless the Scopes option is given.
func (c *Client) AuthCodeURL(ctx context.Context, opts ...AuthOption) (*AuthRequest, error) {
	if c.cfg.Endpoint.AuthURL == "" {
		return nil, errors.New("client: Endpoint.AuthURL is not configured")
	}
	p := authParams{params: params{v: url.Values{}}, scopes: c.cfg.Scopes, redirectURL: c.cfg.RedirectURL}
	for _, o := range opts {
		o.setAuth(&p)
	}
	if p.err != nil {
		return nil, p.err
	}
	if p.redirectURL == "" {
		return nil, errors.New("client: no redirect URL: set Config.RedirectURL or the RedirectURL option")
	}
	if err := checkRedirectURL(p.redirectURL, c.cfg.InsecureAllowHTTP); err != nil {
		return nil, fmt.Errorf("client: redirect URL: %w", err)
	}
	req := &AuthRequest{
		State:       randomString(),
		Nonce:       randomString(),
		Verifier:    oauth2.GenerateVerifier(),
		Issuer:      c.cfg.Endpoint.Issuer,
		RedirectURL: p.redirectURL,
	}
	v := p.v
	v.Set("response_type", "code")
	v.Set("client_id", c.cfg.ClientID)
	v.Set("redirect_uri", req.RedirectURL)
	v.Set("state", req.State)
	v.Set("nonce", req.Nonce)
	v.Set("code_challenge", oauth2.S256ChallengeFromVerifier(req.Verifier))
	v.Set("code_challenge_method", "S256")
	if len(p.scopes) > 0 {
		v.Set("scope", strings.Join(p.scopes, " "))
	}
	if c.dpop != nil {
		v.Set("dpop_jkt", c.dpop.Thumbprint()) // binds the code to the key (RFC 9449 §10)
	}
	if c.cfg.UsePAR || c.cfg.Endpoint.RequirePAR {
		uri, err := c.push(ctx, v)
		if err != nil {
			return nil, err
		}
		v = url.Values{"client_id": {c.cfg.ClientID}, "request_uri": {uri}}
	}
	u, err := withQuery(c.cfg.Endpoint.AuthURL, v)
	if err != nil {
		return nil, err
	}
	req.URL = u
	return req, nil
}

// push sends an authorization request to the PAR endpoint (RFC 9126) and
// returns its request_uri.
func (c *Client) push(ctx context.Context, v url.Values) (string, error) {
	_, body, err := c.post(ctx, c.cfg.Endpoint.PARURL, v)
	if err != nil {
		return "", wrap("pushed authorization request", err)
	}
	var resp struct {
		RequestURI string `json:"request_uri"`
	}
	if err := json.Unmarshal(body, &resp); err != nil || resp.RequestURI == "" {
		return "", wrap("pushed authorization request", fmt.Errorf("%w: no request_uri", ErrMalformedResponse))
	}
	return resp.RequestURI, nil
}

// withQuery adds v to the query of base, keeping base's own parameters
// unless v sets them.
func withQuery(base string, v url.Values) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("client: %w", err)
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
