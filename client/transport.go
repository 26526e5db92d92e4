package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Source supplies tokens; *TokenSource is one.
type Source interface {
	Token(ctx context.Context) (*Token, error)
}

// Transport is an http.RoundTripper that sends each request with a token
// from Source, asked for with the request's context. It clones the request
// rather than modifying it.
//
// A Bearer token (token_type compared case-insensitively) goes in an
// Authorization: Bearer header. A DPoP-bound token (token_type DPoP) goes
// in an Authorization: DPoP header with a DPoP proof for that request
// (RFC 9449 §7: htm and htu from the request, ath from the token), made
// by DPoP; without DPoP such a token is refused, as are tokens of other
// types. When the server answers 401 with a DPoP challenge whose error is
// use_dpop_nonce and a DPoP-Nonce header, the request is sent once more
// with a proof carrying that nonce, if its body can be sent again (no
// body, or GetBody set, as http.NewRequest does for in-memory bodies);
// otherwise that 401 is returned. Nonces from every response are
// remembered for the next proofs to the same origin.
//
// It refuses to send a token over plain http to a host that is not
// loopback unless InsecureAllowHTTP is set. A redirect to another origin
// (scheme and host) than the request before it goes out without a token
// or proof, as net/http drops the Authorization header a caller set.
//
// A Transport is safe for concurrent use when its Source is; its fields
// must not change while it is in use.
type Transport struct {
	// Source supplies the tokens. Required.
	Source Source
	// Base sends the requests. Nil means http.DefaultTransport.
	Base http.RoundTripper
	// InsecureAllowHTTP allows sending tokens over http to any host.
	InsecureAllowHTTP bool
	// DPoP makes the proofs of DPoP-bound tokens, with DPoP.Now as the
	// clock (HTTPClientFor uses the Client's). Nil means DPoP-bound
	// tokens are refused.
	DPoP *DPoP

	now func() time.Time // set by HTTPClientFor
}

// RoundTrip authorizes req with a token from t.Source and sends it with
// t.Base.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	bodyClosed := false
	if req.Body != nil {
		defer func() {
			if !bodyClosed {
				req.Body.Close()
			}
		}()
	}
	if t.Source == nil {
		return nil, errors.New("client: Transport.Source is nil")
	}
	if crossOriginRedirect(req) {
		bodyClosed = true
		return t.base().RoundTrip(req)
	}
	if req.URL.Scheme != "https" && !t.InsecureAllowHTTP && !isLoopback(req.URL.Hostname()) {
		return nil, fmt.Errorf("client: refusing to send a token over %s to %s", req.URL.Scheme, req.URL.Host)
	}
	tok, err := t.Source.Token(req.Context())
	if err != nil {
		return nil, err
	}
	if tok == nil || tok.AccessToken == "" {
		return nil, errors.New("client: token source returned no access token")
	}
	if strings.EqualFold(tok.TokenType, "DPoP") {
		if t.DPoP == nil {
			return nil, errors.New("client: token type DPoP needs Transport.DPoP (Config.DPoP for HTTPClientFor)")
		}
		proof, err := t.proof(req, tok.AccessToken)
		if err != nil {
			return nil, err
		}
		bodyClosed = true // the base RoundTripper closes it
		return t.sendDPoP(req, tok.AccessToken, proof)
	}
	if tok.Type() != "Bearer" {
		return nil, fmt.Errorf("client: token type %q is neither Bearer nor DPoP", tok.TokenType)
	}
	req2 := req.Clone(req.Context())
	req2.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	bodyClosed = true // the base RoundTripper closes it
	resp, err := t.base().RoundTrip(req2)
	if err == nil && t.DPoP != nil {
		t.DPoP.observe(req.URL, resp.Header)
	}
	return resp, err
}

// sendDPoP sends req with a DPoP-bound token and its proof, and once more
// with a fresh proof if the server asks for a nonce it just sent.
func (t *Transport) sendDPoP(req *http.Request, token, proof string) (*http.Response, error) {
	resp, newNonce, err := t.tryDPoP(req, req.Body, token, proof)
	if err != nil || !newNonce || !askedForDPoPNonce(resp) {
		return resp, err
	}
	proof, err = t.proof(req, token)
	if err != nil {
		return resp, nil // the server's answer stands
	}
	body, ok := replayableBody(req)
	if !ok {
		return resp, nil
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10) // lets the connection be reused
	resp.Body.Close()
	resp, _, err = t.tryDPoP(req, body, token, proof)
	return resp, err
}

// tryDPoP sends a copy of req with body, token and proof, and records the
// response's nonce.
func (t *Transport) tryDPoP(req *http.Request, body io.ReadCloser, token, proof string) (*http.Response, bool, error) {
	req2 := req.Clone(req.Context())
	req2.Body = body
	req2.Header.Set("Authorization", "DPoP "+token)
	req2.Header.Set("DPoP", proof)
	resp, err := t.base().RoundTrip(req2)
	if err != nil {
		return nil, false, err
	}
	return resp, t.DPoP.observe(req.URL, resp.Header), nil
}

// proof makes the DPoP proof of req for token.
func (t *Transport) proof(req *http.Request, token string) (string, error) {
	now := t.DPoP.now
	if t.now != nil {
		now = t.now
	}
	return t.DPoP.proof(req.Method, req.URL, token, now())
}

// askedForDPoPNonce reports whether resp is a 401 with a DPoP challenge
// whose error is use_dpop_nonce (RFC 9449 §9). A malformed
// WWW-Authenticate header is not such a request.
func askedForDPoPNonce(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	challenges, err := ParseChallenges(resp.Header.Values("WWW-Authenticate"))
	if err != nil {
		return false
	}
	for _, c := range challenges {
		if strings.EqualFold(c.Scheme, "DPoP") && c.Param("error") == "use_dpop_nonce" {
			return true
		}
	}
	return false
}

// replayableBody returns a fresh copy of req's body, if it can be had.
func replayableBody(req *http.Request) (io.ReadCloser, bool) {
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		return req.Body, true
	case req.GetBody == nil:
		return nil, false
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	return body, true
}

// crossOriginRedirect reports whether req follows a redirect from another
// origin.
func crossOriginRedirect(req *http.Request) bool {
	if req.Response == nil || req.Response.Request == nil {
		return false
	}
	prev := req.Response.Request.URL
	return req.URL.Scheme != prev.Scheme || req.URL.Host != prev.Host
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// HTTPClientFor returns an HTTP client that authorizes its requests with
// tokens from src (see Transport), over the transport and with the timeout
// of Config.HTTPClient (or the default's; none when Config.HTTPClient has
// none, as for long downloads). With Config.DPoP, DPoP-bound tokens are
// sent with proofs made with the client's clock.
func (c *Client) HTTPClientFor(src Source) *http.Client {
	timeout := c.http.Timeout
	if c.cfg.HTTPClient != nil {
		timeout = c.cfg.HTTPClient.Timeout
	}
	return &http.Client{
		Transport: &Transport{
			Source:            src,
			Base:              c.http.Transport,
			InsecureAllowHTTP: c.cfg.InsecureAllowHTTP,
			DPoP:              c.dpop,
			now:               c.now,
		},
		Timeout: timeout,
	}
}
