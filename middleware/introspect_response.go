package middleware

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// maxStdlibDepthBytes is the size under which no JSON text can nest
// deeper than encoding/json allows (10,000 levels take 20,000 bytes).
// Larger answers are also checked with json.Valid, so that Claims.Get,
// which decodes with encoding/json, works for every answer accepted.
const maxStdlibDepthBytes = 20_000

// introspectionMembers are the JSON texts of the members of an
// introspection answer that are read: the claims of a token, and the
// RFC 7662 members that are not claims. "" when absent.
type introspectionMembers struct {
	claimMembers
	active, tokenType, tokenUse, username string
}

func (m *introspectionMembers) set(name, value string) {
	switch name {
	case "active":
		m.active = value
	case "token_type":
		m.tokenType = value
	case "token_use":
		m.tokenUse = value
	case "username":
		m.username = value
	}
	m.claimMembers.set(name, value)
}

// checkIntrospection reads an introspection answer (RFC 7662 §2.2) into
// Claims and runs steps 1 (for the body) to 6 of the checks listed in the
// Introspection documentation. The body is read as readObject reads a
// token's payload. Token types are compared case-insensitively as RFC
// 6749 §5.1 says. The time checks of step 7 follow in
// checkIntrospectedTime.
func (v *Validator) checkIntrospection(body string) (*Claims, error) {
	var m introspectionMembers
	if !readObject(body, m.set) || (len(body) > maxStdlibDepthBytes && !json.Valid([]byte(body))) {
		return nil, fmt.Errorf("%w: the answer is not a JSON object", ErrIntrospection)
	}
	switch m.active {
	case "true":
	case "false":
		return nil, ErrInactive
	case "":
		return nil, fmt.Errorf("%w: the answer has no active member", ErrIntrospection)
	default:
		return nil, fmt.Errorf("%w: active is not a JSON boolean", ErrIntrospection)
	}
	c := &Claims{payload: body, members: m.count}
	if err := c.readRegistered(&m.claimMembers); err != nil {
		return nil, err
	}
	if err := checkIntrospectedType(&m); err != nil {
		return nil, err
	}
	if m.iss == "" {
		c.issuer = v.introspection.issuer
	} else if _, ok := v.issuers[c.issuer]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrInvalidIssuer, c.issuer)
	}
	if err := v.checkAudience(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkIntrospectedType runs steps 3 (for the members that are not
// claims) and 4 of checkIntrospection.
func checkIntrospectedType(m *introspectionMembers) error {
	typ, typeOK := jsonString(m.tokenType)
	use, useOK := jsonString(m.tokenUse)
	_, userOK := jsonString(m.username)
	switch {
	case m.tokenType != "" && !typeOK:
		return fmt.Errorf("%w: token_type is not a string", ErrInvalidClaims)
	case m.username != "" && !userOK:
		return fmt.Errorf("%w: username is not a string", ErrInvalidClaims)
	case m.tokenType != "" && !strings.EqualFold(typ, "Bearer") && !strings.EqualFold(typ, "DPoP") && typ != "access_token":
		return fmt.Errorf("%w: token_type %q", ErrInvalidType, typ)
	case m.tokenUse != "" && (!useOK || (use != "access_token" && use != "access")):
		return fmt.Errorf("%w: token_use is not access_token", ErrInvalidType)
	}
	return nil
}

// checkIntrospectedTime checks the times of an active answer with the
// leeway: exp, when present, not past (ErrExpired); nbf and iat, when
// present, not in the future (ErrInvalidClaims). Unlike a JWT, an
// introspected token needs no exp: the server vouches for it now.
func (v *Validator) checkIntrospectedTime(c *Claims, now time.Time) error {
	switch {
	case !c.expiry.IsZero() && !now.Before(c.expiry.Add(v.leeway)):
		return fmt.Errorf("%w at %v", ErrExpired, c.expiry.UTC())
	case !c.notBefore.IsZero() && now.Add(v.leeway).Before(c.notBefore):
		return fmt.Errorf("%w: not valid before %v", ErrInvalidClaims, c.notBefore.UTC())
	case !c.issuedAt.IsZero() && now.Add(v.leeway).Before(c.issuedAt):
		return fmt.Errorf("%w: issued in the future, at %v", ErrInvalidClaims, c.issuedAt.UTC())
	}
	return nil
}
