package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// post sends form to endpoint, authenticated as the client, and returns the
// body of a 2xx answer. Any other answer is a *TokenError. The request is
// bounded by ctx and the HTTP client's timeout, the body by maxBytes.
//
// With DPoP, the request carries a proof, and an answer of 400
// use_dpop_nonce with a DPoP-Nonce header is retried once, rebuilt from
// scratch (a fresh client assertion and a proof with the nonce), as RFC
// 9449 §8 says.
func (c *Client) post(ctx context.Context, endpoint string, form url.Values) (status int, body []byte, err error) {
	return c.postForm(ctx, endpoint, form, c.dpop != nil)
}

// postForm is post, with a DPoP proof only when prove is set: revocation
// needs none.
func (c *Client) postForm(ctx context.Context, endpoint string, form url.Values, prove bool) (status int, body []byte, err error) {
	a, err := c.send(ctx, endpoint, form, prove)
	if err == nil && prove && a.askedForNonce() {
		c.log.DebugContext(ctx, "client: retrying with the server's DPoP nonce", "endpoint", endpoint)
		a, err = c.send(ctx, endpoint, form, prove)
	}
	if err != nil {
		return a.status, nil, err
	}
	if a.status < 200 || a.status > 299 {
		e := errorResponse(a.status, a.body)
		e.Header = a.header
		return a.status, a.body, e
	}
	if prove && endpoint == c.cfg.Endpoint.TokenURL {
		c.checkTokenType(ctx, a.body)
	}
	return a.status, a.body, nil
}

// answer is a server's response, read.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	newNonce bool // a usable DPoP-Nonce header was recorded
}

// askedForNonce reports whether a is RFC 9449 §8's request to retry with
// the nonce it brought: 400 use_dpop_nonce with a DPoP-Nonce header.
func (a answer) askedForNonce() bool {
	return a.status == http.StatusBadRequest && a.newNonce && errorResponse(a.status, a.body).Code == "use_dpop_nonce"
}

// send makes one attempt of post: it authenticates a copy of form, adds a
// DPoP proof when prove is set, and reads the response.
func (c *Client) send(ctx context.Context, endpoint string, form url.Values, prove bool) (answer, error) {
	form = cloneValues(form)
	header := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if err := c.authenticate(form, header); err != nil {
		return answer{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return answer{}, fmt.Errorf("client: %w", err)
	}
	if prove {
		proof, err := c.dpop.proof(http.MethodPost, req.URL, "", c.now())
		if err != nil {
			return answer{}, err
		}
		header.Set("DPoP", proof)
	}
	req.Header = header
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	if c.dpop != nil {
		a.newNonce = c.dpop.observe(req.URL, resp.Header)
	}
	a.body, err = readCapped(resp, c.maxBytes)
	return a, err
}

// checkTokenType notes a token response that is not DPoP-bound although a
// proof was sent: the server does not do DPoP, and its bearer token is
// used as such.
func (c *Client) checkTokenType(ctx context.Context, body []byte) {
	var tok struct {
		TokenType string `json:"token_type"`
	}
	if json.Unmarshal(body, &tok) == nil && tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "DPoP") {
		c.log.DebugContext(ctx, "client: DPoP proof sent but the token is not DPoP-bound", "token_type", tok.TokenType)
	}
}

// readCapped reads resp's body, refusing one longer than limit before or
// while reading it.
func readCapped(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrResponseTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("client: reading response: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrResponseTooLarge, limit)
	}
	return body, nil
}

// errorResponse turns an error answer into a *TokenError, with the RFC 6749
// §5.2 fields when the body has them.
func errorResponse(status int, body []byte) *TokenError {
	var e struct {
		Code        string `json:"error"`
		Description string `json:"error_description"`
		URI         string `json:"error_uri"`
	}
	_ = json.Unmarshal(body, &e) // a body that is not JSON leaves Code empty
	return &TokenError{
		Code:        e.Code,
		Description: e.Description,
		URI:         e.URI,
		StatusCode:  status,
		Body:        body,
	}
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
