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
func (c *Client) post(ctx context.Context, endpoint string, form url.Values) (status int, body []byte, err error) {
	form = cloneValues(form)
	header := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if err := c.authenticate(form, header); err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, fmt.Errorf("client: %w", err)
	}
	req.Header = header
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("client: %w", err)
	}
	defer resp.Body.Close()
	body, err = readCapped(resp, c.maxBytes)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, body, errorResponse(resp.StatusCode, body)
	}
	return resp.StatusCode, body, nil
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
