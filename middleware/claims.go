package middleware

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
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
	payload   string // the JSON text of the claims
	members   int    // how many members payload has, to size the map

	// What the type and confirmation rules need to know.
	azp          string // azp when it is a string
	azpIsString  bool
	idTokenClaim string // the first of idTokenClaims present, or ""
	hasCnf       bool
	jkt          string // cnf.jkt when cnf is an object and jkt a string

	rawOnce sync.Once
	raw     map[string]any // decoded from payload by the first Get
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

// DPoPThumbprint is the cnf.jkt claim (RFC 9449 §6.1): the base64url
// SHA-256 thumbprint (RFC 7638) of the key the token is bound to. Empty
// when the token has no cnf object with a jkt string. A token Check
// accepted with the DPoP scheme always has one, matching its proof's key.
func (c *Claims) DPoPThumbprint() string { return c.jkt }

// Get returns the claim name as encoding/json decodes it into an any:
// string, float64, bool, nil, []any or map[string]any. The value is shared
// and must not be modified; use Decode for typed access or big numbers.
// The claims are decoded into a map on the first call (Verify does not
// need it), once for all the goroutines sharing c.
func (c *Claims) Get(name string) (any, bool) {
	c.rawOnce.Do(func() { c.raw = decodeMap(c.payload, c.members) })
	v, ok := c.raw[name]
	return v, ok
}

// Decode unmarshals the token's payload into v with encoding/json, for
// typed access to custom claims. Note that encoding/json matches JSON
// names to struct fields case-insensitively, where Verify reads the
// registered claims case-sensitively (an "ISS" member is not iss).
func (c *Claims) Decode(v any) error { return json.Unmarshal([]byte(c.payload), v) }

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

// claimMembers are the JSON texts of the claims Verify reads, the last of
// each name; "" when absent.
type claimMembers struct {
	iss, sub, jti, clientID, azp string
	exp, nbf, iat                string
	aud, scope, scp              string
	cnf                          string
	idToken                      [len(idTokenClaims)]string // in idTokenClaims order
	count                        int                        // members, all names
}

func (m *claimMembers) set(name, value string) {
	m.count++
	switch name {
	case "iss":
		m.iss = value
	case "sub":
		m.sub = value
	case "jti":
		m.jti = value
	case "client_id":
		m.clientID = value
	case "azp":
		m.azp = value
	case "exp":
		m.exp = value
	case "nbf":
		m.nbf = value
	case "iat":
		m.iat = value
	case "aud":
		m.aud = value
	case "scope":
		m.scope = value
	case "scp":
		m.scp = value
	case "cnf":
		m.cnf = value
	default:
		if i := slices.Index(idTokenClaims[:], name); i >= 0 {
			m.idToken[i] = value
		}
	}
}

// parseClaims decodes the payload segment into Claims, checking the JSON
// type of every registered claim it reads. It checks no values: that is
// the job of the steps in Verify. Claim names are case-sensitive (see
// readObject): an "ISS" member is not iss.
func parseClaims(seg string) (*Claims, error) {
	payload, err := decodeSegment(seg)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrMalformed)
	}
	var m claimMembers
	if !readObject(payload, m.set) {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrMalformed)
	}
	c := &Claims{payload: payload, members: m.count}
	return c, c.readRegistered(&m)
}

// readRegistered fills the typed fields from the members. The first
// error, in the order the claims are read, is returned.
func (c *Claims) readRegistered(m *claimMembers) error {
	var err error
	str := func(name, v string) string {
		s, isString := jsonString(v)
		if v != "" && !isString && err == nil {
			err = fmt.Errorf("%w: %s is not a string", ErrInvalidClaims, name)
		}
		return s
	}
	date := func(name, v string) time.Time {
		t, e := numericDate(name, v)
		if e != nil && err == nil {
			err = e
		}
		return t
	}
	c.issuer, c.subject, c.id = str("iss", m.iss), str("sub", m.sub), str("jti", m.jti)
	if c.clientID = str("client_id", m.clientID); c.clientID == "" {
		c.clientID = str("azp", m.azp)
	}
	c.expiry, c.notBefore, c.issuedAt = date("exp", m.exp), date("nbf", m.nbf), date("iat", m.iat)
	if err != nil {
		return err
	}
	if c.audience, err = stringList("aud", m.aud, false); err != nil {
		return err
	}
	name, scope := "scope", m.scope
	if scope == "" {
		name, scope = "scp", m.scp
	}
	if c.scopes, err = stringList(name, scope, true); err != nil {
		return err
	}
	c.azp, c.azpIsString = jsonString(m.azp)
	for i, v := range m.idToken {
		if v != "" {
			c.idTokenClaim = idTokenClaims[i]
			break
		}
	}
	c.hasCnf = m.cnf != ""
	c.jkt = confirmationThumbprint(m.cnf)
	return nil
}

// confirmationThumbprint returns the jkt string of cnf, the JSON text of
// the cnf claim, or "" when cnf is not an object with a jkt string. Like
// every name, jkt is case-sensitive and counts with its last value.
func confirmationThumbprint(cnf string) string {
	if cnf == "" || cnf[0] != '{' {
		return ""
	}
	var jkt string
	readObject(cnf, func(name, value string) {
		if name == "jkt" {
			jkt, _ = jsonString(value)
		}
	})
	return jkt
}

// stringList reads v, the JSON text of a claim that is a string or an
// array of strings ("" when absent). With split, a string is a
// space-separated list (scope); without, one value (aud).
func stringList(name, v string, split bool) ([]string, error) {
	switch {
	case v == "":
		return nil, nil
	case v[0] == '"':
		s, _ := jsonString(v)
		if split {
			return strings.Fields(s), nil
		}
		return []string{s}, nil
	case v[0] == '[':
		list, ok := jsonStrings(v)
		if !ok {
			return nil, fmt.Errorf("%w: %s holds a non-string", ErrInvalidClaims, name)
		}
		return list, nil
	}
	return nil, fmt.Errorf("%w: %s is neither a string nor an array of strings", ErrInvalidClaims, name)
}

// maxSeconds keeps a NumericDate inside what time.Time represents: about
// 292 billion years, far past any real exp.
const maxSeconds = 1 << 60

// numericDate reads v, the JSON text of an RFC 7519 NumericDate: a JSON
// number of seconds, possibly fractional. Absent ("") is the zero Time.
func numericDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	f, ok := jsonNumber(v)
	if !ok {
		return time.Time{}, fmt.Errorf("%w: %s is not a number", ErrInvalidClaims, name)
	}
	f = max(min(f, maxSeconds), -maxSeconds)
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
