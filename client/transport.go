package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Source supplies tokens; *TokenSource is one.
type Source interface {
	Token(ctx context.Context) (*Token, error)
}

// Transport is an http.RoundTripper that sends each request with an
// Authorization: Bearer header holding a token from Source, asked for with
// the request's context. It clones the request rather than modifying it.
//
// It refuses to send a token over plain http to a host that is not
// loopback unless InsecureAllowHTTP is set. A redirect to another origin
// (scheme and host) than the request before it goes out without a token,
// as net/http drops the Authorization header a caller set. Tokens of a
// type other than Bearer (e.g. DPoP) are refused: they need their own
// transport.
type Transport struct {
	// Source supplies the tokens. Required.
	Source Source
	// Base sends the requests. Nil means http.DefaultTransport.
	Base http.RoundTripper
	// InsecureAllowHTTP allows sending tokens over http to any host.
	InsecureAllowHTTP bool
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
	if tok.Type() != "Bearer" {
		return nil, fmt.Errorf("client: token type %q is not Bearer", tok.TokenType)
	}
	req2 := req.Clone(req.Context())
	req2.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	bodyClosed = true // the base RoundTripper closes it
	return t.base().RoundTrip(req2)
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
// of Config.HTTPClient (or the default's).
func (c *Client) HTTPClientFor(src Source) *http.Client {
	return &http.Client{
		Transport: &Transport{Source: src, Base: c.http.Transport, InsecureAllowHTTP: c.cfg.InsecureAllowHTTP},
		Timeout:   c.http.Timeout,
	}
}
