package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Sentinel errors, one per decision a caller makes. Errors returned by the
// package wrap them; test with errors.Is.
var (
	// ErrStateMismatch: the authorization response's state is not the one
	// of the request (a forged or stale callback, or another tab's). The
	// login must start again.
	ErrStateMismatch = errors.New("client: state mismatch")
	// ErrIssuerMismatch: the authorization response names another issuer
	// in RFC 9207's iss parameter, or the request was made to another
	// issuer than this client's (a mix-up attack).
	ErrIssuerMismatch = errors.New("client: issuer mismatch")
	// ErrIssuerMissing: the server advertises RFC 9207 support
	// (Endpoint.IssParameterSupported) but the response has no iss.
	ErrIssuerMissing = errors.New("client: iss parameter missing")
	// ErrMalformedResponse: a response from the server or the browser is
	// not what the protocol requires (no code, a repeated parameter, a
	// token response without access_token, JSON that does not parse).
	ErrMalformedResponse = errors.New("client: malformed response")
	// ErrResponseTooLarge: the server's response exceeds
	// Config.MaxResponseBytes; it was not read further.
	ErrResponseTooLarge = errors.New("client: response too large")
	// ErrInvalidGrant matches a *TokenError whose Code is invalid_grant:
	// the code or refresh token is expired, revoked, used or foreign. For
	// a refresh it means the grant is over: end the session, log in again.
	ErrInvalidGrant = errors.New("client: invalid_grant")
	// ErrNoRefreshToken: a token must be refreshed but there is no
	// refresh token. Like ErrInvalidGrant, the user must log in again.
	ErrNoRefreshToken = errors.New("client: no refresh token")
)

// TokenError is an error response (RFC 6749 §5.2) from the token endpoint
// or another endpoint the client authenticates to (PAR, revocation), or a
// non-2xx answer without such a body (Code is then empty).
//
// errors.Is(err, ErrInvalidGrant) reports whether Code is invalid_grant.
// Description and URI are the server's words: log them, do not show them
// to users unescaped.
type TokenError struct {
	// Code is the error parameter, e.g. "invalid_grant".
	Code string
	// Description is error_description, if any.
	Description string
	// URI is error_uri, if any.
	URI string
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Body is the response body, at most Config.MaxResponseBytes.
	Body []byte
	// Header is the response's header, e.g. its DPoP-Nonce or
	// WWW-Authenticate fields. Nil for an error in the body of a 2xx
	// answer, which some servers send.
	Header http.Header
}

func (e *TokenError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("client: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	s := "client: " + e.Code
	if e.Description != "" {
		s += fmt.Sprintf(" %q", e.Description)
	}
	return s + fmt.Sprintf(" (HTTP %d)", e.StatusCode)
}

// Is makes errors.Is(err, ErrInvalidGrant) true for invalid_grant errors.
func (e *TokenError) Is(target error) bool {
	return target == ErrInvalidGrant && e.Code == "invalid_grant"
}

// AuthError is an error authorization response (RFC 6749 §4.1.2.1), such
// as access_denied or, for prompt=none, login_required. ParseResponse
// returns it only after state and iss have checked out, so it came from
// the server the request went to; its Description and URI still travelled
// through the browser: do not show them unescaped.
type AuthError struct {
	// Code is the error parameter, e.g. "access_denied".
	Code string
	// Description is error_description, if any.
	Description string
	// URI is error_uri, if any.
	URI string
}

func (e *AuthError) Error() string {
	s := "client: authorization error " + e.Code
	if e.Description != "" {
		s += fmt.Sprintf(" %q", e.Description)
	}
	return s
}

// opError says which operation failed, keeping one "client:" prefix:
// "client: code exchange: invalid_grant …".
type opError struct {
	op  string
	err error
}

func wrap(op string, err error) error { return &opError{op: op, err: err} }

func (e *opError) Error() string {
	return "client: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "client: ")
}

func (e *opError) Unwrap() error { return e.err }
