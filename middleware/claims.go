package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Claims are the claims of a verified access token. A *Claims may be shared
// between requests (the verified-token cache hands out the same value for
// the same token), so it is read-only: the accessors return copies of
// slices, and values from Get must not be modified. Safe for concurrent use.
type Claims struct {
	issuer    string
	subject   string
	clientID  string
	id        string
	audience  []string
	scopes    []string
	expiry    time.Time
	notBefore time.Time
	issuedAt  time.Time
	raw       map[string]any
	payload   []byte
}

// Issuer is the iss claim, one of the configured issuers.
func (c *Claims) Issuer() string { return c.issuer }

// Subject is the sub claim: the user, or the client itself for a
// client-credentials token. Empty when absent.
func (c *Claims) Subject() string { return c.subject }

// ClientID is the client_id claim (RFC 9068), or azp when client_id is
// absent (common in plain-JWT access tokens). Empty when neither is there.
func (c *Claims) ClientID() string { return c.clientID }

// ID is the jti claim, empty when absent.
func (c *Claims) ID() string { return c.id }

// Audience returns the aud claim as a list, whether it was a string or an
// array.
func (c *Claims) Audience() []string { return slices.Clone(c.audience) }

// Scopes returns the token's scopes: the space-separated scope claim (RFC
// 9068; an array of strings is accepted too), or, when scope is absent, scp
// (used by some providers) read the same way. Never nil.
func (c *Claims) Scopes() []string {
	if len(c.scopes) == 0 {
		return []string{}
	}
	return slices.Clone(c.scopes)
}

// HasScope reports whether the token has scope s (exact, case-sensitive).
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.scopes, s) }

// Expiry is the exp claim.
func (c *Claims) Expiry() time.Time { return c.expiry }

// NotBefore is the nbf claim; the zero Time when absent.
func (c *Claims) NotBefore() time.Time { return c.notBefore }

// IssuedAt is the iat claim; the zero Time when absent.
func (c *Claims) IssuedAt() time.Time { return c.issuedAt }

// Get returns the claim name as encoding/json decodes it into an any:
// string, float64, bool, nil, []any or map[string]any. The value is shared
// and must not be modified; use Decode for typed access or big numbers.
func (c *Claims) Get(name string) (any, bool) {
	v, ok := c.raw[name]
	return v, ok
}

// Decode unmarshals the token's payload into v with encoding/json, for
// typed access to custom claims.
func (c *Claims) Decode(v any) error { return json.Unmarshal(c.payload, v) }

type claimsKey struct{}

// ClaimsFrom returns the claims Validator.Handler, RequireScope or
// RequireClaims stored in ctx, and whether there were any.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// withClaims returns ctx carrying c.
func withClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// parseClaims decodes the payload segment into Claims, checking the JSON
// type of every registered claim it reads. It checks no values: that is
// the job of the steps in Verify.
func parseClaims(seg string) (*Claims, error) {
	payload := make([]byte, b64.DecodedLen(len(seg)))
	n, err := b64.Decode(payload, []byte(seg))
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	c := &Claims{payload: payload[:n]}
	if err := json.Unmarshal(c.payload, &c.raw); err != nil || c.raw == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	return c, c.readRegistered()
}

// readRegistered fills the typed fields from the raw claims.
func (c *Claims) readRegistered() error {
	var err error
	str := func(name string) string {
		v, ok := c.raw[name]
		s, isString := v.(string)
		if ok && !isString && err == nil {
			err = fmt.Errorf("%w: %s is not a string", ErrInvalidClaims, name)
		}
		return s
	}
	date := func(name string) time.Time {
		t, e := c.numericDate(name)
		if e != nil && err == nil {
			err = e
		}
		return t
	}
	c.issuer, c.subject, c.id = str("iss"), str("sub"), str("jti")
	if c.clientID = str("client_id"); c.clientID == "" {
		c.clientID = str("azp")
	}
	c.expiry, c.notBefore, c.issuedAt = date("exp"), date("nbf"), date("iat")
	if err != nil {
		return err
	}
	if c.audience, err = c.stringList("aud", false); err != nil {
		return err
	}
	name := "scope"
	if _, ok := c.raw[name]; !ok {
		name = "scp"
	}
	c.scopes, err = c.stringList(name, true)
	return err
}

// stringList reads a claim that is a string or an array of strings. With
// split, a string is a space-separated list (scope); without, one value
// (aud).
func (c *Claims) stringList(name string, split bool) ([]string, error) {
	switch v := c.raw[name].(type) {
	case nil:
		if _, ok := c.raw[name]; !ok {
			return nil, nil
		}
	case string:
		if split {
			return strings.Fields(v), nil
		}
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s holds a non-string", ErrInvalidClaims, name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s is neither a string nor an array of strings", ErrInvalidClaims, name)
}

// maxSeconds keeps a NumericDate inside what time.Time represents: about
// 292 billion years, far past any real exp.
const maxSeconds = 1 << 60

// numericDate reads an RFC 7519 NumericDate: a JSON number of seconds,
// possibly fractional. Absent is the zero Time.
func (c *Claims) numericDate(name string) (time.Time, error) {
	v, ok := c.raw[name]
	if !ok {
		return time.Time{}, nil
	}
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s is not a number", ErrInvalidClaims, name)
	}
	f = max(min(f, maxSeconds), -maxSeconds)
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
