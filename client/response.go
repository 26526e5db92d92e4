package client

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
)

// singleParams may appear at most once in an authorization response (RFC
// 6749 §3.1): a repeated one is an attempt to confuse the checks.
var singleParams = []string{"state", "iss", "code", "error", "error_description", "error_uri"}

// ParseResponse checks the authorization response params (the redirect
// URI's query, or the form of a form_post response) against req and
// returns the authorization code. In order:
//
//  1. req must be one made by a client of the same issuer, and no
//     response parameter may be repeated (ErrMalformedResponse);
//  2. state must equal req.State, compared in constant time
//     (ErrStateMismatch);
//  3. RFC 9207: an iss parameter must equal req.Issuer
//     (ErrIssuerMismatch); a missing one is rejected when the server
//     advertises support, Endpoint.IssParameterSupported
//     (ErrIssuerMissing). Without an Issuer, iss is not checked;
//  4. an error parameter becomes an *AuthError, only now, so that a
//     forged callback cannot make errors appear;
//  5. the code must be present (ErrMalformedResponse).
//
// ParseResponse does not remember req: the caller must make sure each
// AuthRequest is used once.
func (c *Client) ParseResponse(params url.Values, req *AuthRequest) (code string, err error) {
	if err := c.checkRequest(req); err != nil {
		return "", err
	}
	for _, k := range singleParams {
		if len(params[k]) > 1 {
			return "", fmt.Errorf("%w: parameter %s repeated", ErrMalformedResponse, k)
		}
	}
	if subtle.ConstantTimeCompare([]byte(params.Get("state")), []byte(req.State)) != 1 {
		return "", ErrStateMismatch
	}
	if err := c.checkIssuer(params, req); err != nil {
		return "", err
	}
	if e := params.Get("error"); e != "" {
		return "", &AuthError{Code: e, Description: params.Get("error_description"), URI: params.Get("error_uri")}
	}
	code = params.Get("code")
	if code == "" {
		return "", fmt.Errorf("%w: no code", ErrMalformedResponse)
	}
	return code, nil
}

// checkRequest refuses an empty AuthRequest and one made to another
// issuer: its code must not reach this client's token endpoint.
func (c *Client) checkRequest(req *AuthRequest) error {
	switch {
	case req == nil || req.State == "" || req.Verifier == "":
		return errors.New("client: no authorization request (state and verifier are required)")
	case req.Issuer != c.cfg.Endpoint.Issuer:
		return fmt.Errorf("%w: request was made to %q, this client is for %q", ErrIssuerMismatch, req.Issuer, c.cfg.Endpoint.Issuer)
	}
	return nil
}

// checkIssuer applies RFC 9207 to the response.
func (c *Client) checkIssuer(params url.Values, req *AuthRequest) error {
	iss, present := params["iss"]
	switch {
	case req.Issuer == "":
		return nil // nothing to compare with; see Endpoint.Issuer
	case !present:
		if c.cfg.Endpoint.IssParameterSupported {
			return ErrIssuerMissing
		}
		return nil
	case iss[0] != req.Issuer:
		return fmt.Errorf("%w: response from %q, expected %q", ErrIssuerMismatch, iss[0], req.Issuer)
	}
	return nil
}
