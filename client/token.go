package client

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// Token is a token response: an oauth2.Token (access token, type, refresh
// token, expiry, and every member of the response through Extra) and the
// OpenID Connect ID token.
//
// TokenType is "DPoP" (in any case) for an access token bound to the key
// of Config.DPoP: Transport sends it with a proof of that key. A server
// that does not do DPoP answers "Bearer" even to a request with a proof;
// the token is then an ordinary bearer token.
//
// Expiry is computed from expires_in with Config.Now; zero means the
// server did not say, and a TokenSource then never refreshes the token.
// The client does not verify the ID token: the rp does. The promoted
// oauth2.Token.Valid uses time.Now and a 10-second margin; TokenSource
// uses its own clock and EarlyRefresh instead.
type Token struct {
	oauth2.Token
	// IDToken is the raw id_token member, if any.
	IDToken string `json:"id_token,omitempty"`
}

// parseToken reads a successful token response. A body with an error
// member is an error response even with status 200, as some servers send.
func parseToken(status int, body []byte, now time.Time) (*Token, error) {
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: token response is not a JSON object: %v", ErrMalformedResponse, err)
	}
	if e, ok := raw["error"].(string); ok && e != "" {
		return nil, errorResponse(status, body)
	}
	var tok Token
	fields := []struct {
		name string
		dst  *string
	}{
		{"access_token", &tok.AccessToken},
		{"token_type", &tok.TokenType},
		{"refresh_token", &tok.RefreshToken},
		{"id_token", &tok.IDToken},
	}
	for _, f := range fields {
		v, ok := raw[f.name]
		if !ok {
			continue
		}
		if *f.dst, ok = v.(string); !ok {
			return nil, fmt.Errorf("%w: token response member %s is not a string", ErrMalformedResponse, f.name)
		}
	}
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("%w: token response without access_token", ErrMalformedResponse)
	}
	secs, err := expiresIn(raw["expires_in"])
	if err != nil {
		return nil, err
	}
	if secs > 0 {
		tok.ExpiresIn = secs
		tok.Expiry = now.Add(time.Duration(secs) * time.Second)
	}
	tok.Token = *tok.WithExtra(raw)
	return &tok, nil
}

// maxExpiresIn caps expires_in (about 68 years) so the expiry cannot
// overflow.
const maxExpiresIn = math.MaxInt32

// expiresIn reads expires_in, a number or (from some servers) a numeric
// string. Absent, zero or negative means unknown.
func expiresIn(v any) (int64, error) {
	var secs float64
	switch v := v.(type) {
	case nil:
		return 0, nil
	case float64:
		secs = v
	case string:
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: expires_in %q is not a number", ErrMalformedResponse, v)
		}
		secs = n
	default:
		return 0, fmt.Errorf("%w: expires_in is not a number", ErrMalformedResponse)
	}
	switch {
	case math.IsNaN(secs) || secs <= 0:
		return 0, nil
	case secs > maxExpiresIn:
		return maxExpiresIn, nil
	}
	return int64(secs), nil
}
