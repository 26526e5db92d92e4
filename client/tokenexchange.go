package client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Token type identifiers of RFC 8693 §3, for TokenExchangeRequest's type
// fields and Token.IssuedTokenType.
const (
	// TokenTypeAccessToken is an OAuth 2.0 access token.
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	// TokenTypeRefreshToken is an OAuth 2.0 refresh token.
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	// TokenTypeIDToken is an OpenID Connect ID token.
	TokenTypeIDToken = "urn:ietf:params:oauth:token-type:id_token"
	// TokenTypeJWT is a JWT of any other kind.
	TokenTypeJWT = "urn:ietf:params:oauth:token-type:jwt"
)

// tokenExchangeGrantType is the grant_type of RFC 8693 requests.
const tokenExchangeGrantType = "urn:ietf:params:oauth:grant-type:token-exchange"

// TokenExchangeRequest is an RFC 8693 token exchange request: the token to
// exchange, whose behalf the new one acts on, and what it is for. Only
// SubjectToken is required; the zero values of the other fields send
// nothing (or the default subject token type). TokenExchange does not
// modify it.
type TokenExchangeRequest struct {
	// SubjectToken is the token that represents the party on whose
	// behalf the new token is requested. Required.
	SubjectToken string
	// SubjectTokenType is SubjectToken's type; empty means
	// TokenTypeAccessToken.
	SubjectTokenType string
	// ActorToken, if not empty, represents the acting party
	// (delegation).
	ActorToken string
	// ActorTokenType is ActorToken's type: required with ActorToken,
	// refused without it.
	ActorTokenType string
	// RequestedTokenType is the type of token wanted; empty lets the
	// server choose.
	RequestedTokenType string
	// Audience names the services the token is for, by names the server
	// knows (audience parameters).
	Audience []string
	// Resource lists the absolute URIs, without fragment, of the APIs the
	// token is for (resource parameters, RFC 8707).
	Resource []string
	// Scopes are the scopes wanted, space-joined into scope. Empty sends
	// no scope: Config.Scopes does not apply.
	Scopes []string
}

// TokenExchange exchanges req.SubjectToken (and req.ActorToken, if any)
// for a new token (RFC 8693), authenticated per Config.AuthMethod and
// sending opts as extra parameters. The call is bounded by ctx and the
// HTTP client's timeout.
//
// The response must say what it issued (issued_token_type, see
// Token.IssuedTokenType), or the call fails with ErrMalformedResponse. The
// issued token is in Token.AccessToken whatever its type; token_type is
// N_A when it is not an access token. An error answer is a *TokenError
// (invalid_request, invalid_target, …). The issued token is not verified.
func (c *Client) TokenExchange(ctx context.Context, req TokenExchangeRequest, opts ...TokenOption) (*Token, error) {
	form, err := req.form()
	if err != nil {
		return nil, wrap("token exchange", err)
	}
	tok, err := c.token(ctx, form, opts)
	if err != nil {
		return nil, wrap("token exchange", err)
	}
	if tok.IssuedTokenType() == "" {
		return nil, wrap("token exchange", fmt.Errorf("%w: no issued_token_type", ErrMalformedResponse))
	}
	return tok, nil
}

// form checks req and returns its parameters.
func (req TokenExchangeRequest) form() (url.Values, error) {
	switch {
	case req.SubjectToken == "":
		return nil, errors.New("client: SubjectToken is required")
	case req.ActorToken != "" && req.ActorTokenType == "":
		return nil, errors.New("client: ActorToken needs ActorTokenType")
	case req.ActorToken == "" && req.ActorTokenType != "":
		return nil, errors.New("client: ActorTokenType is set without ActorToken")
	}
	for _, r := range req.Resource {
		if u, err := url.Parse(r); err != nil || !u.IsAbs() || u.Fragment != "" {
			return nil, fmt.Errorf("client: resource %q must be an absolute URI without fragment", r)
		}
	}
	typ := req.SubjectTokenType
	if typ == "" {
		typ = TokenTypeAccessToken
	}
	form := url.Values{
		"grant_type":         {tokenExchangeGrantType},
		"subject_token":      {req.SubjectToken},
		"subject_token_type": {typ},
	}
	set := func(k, v string) {
		if v != "" {
			form.Set(k, v)
		}
	}
	set("actor_token", req.ActorToken)
	set("actor_token_type", req.ActorTokenType)
	set("requested_token_type", req.RequestedTokenType)
	set("scope", strings.Join(req.Scopes, " "))
	if len(req.Audience) > 0 {
		form["audience"] = append([]string(nil), req.Audience...)
	}
	if len(req.Resource) > 0 {
		form["resource"] = append([]string(nil), req.Resource...)
	}
	return form, nil
}

// IssuedTokenType returns the issued_token_type of a token exchange
// response (RFC 8693 §2.2.1), e.g. TokenTypeAccessToken; empty for other
// token responses.
func (t *Token) IssuedTokenType() string {
	s, _ := t.Extra("issued_token_type").(string)
	return s
}
