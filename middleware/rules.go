package middleware

import (
	"fmt"
	"slices"
	"time"
)

// The claim rules of an access token, steps 5 to 9 of Verify. Each fails
// with its sentinel and quotes the offending value (escaped) for logs.

func (v *Validator) checkIssuer(c *Claims) (*keySet, error) {
	if ks, ok := v.issuers[c.issuer]; ok && c.issuer != "" {
		return ks, nil
	}
	if c.issuer == "" {
		return nil, fmt.Errorf("%w: no iss", ErrInvalidIssuer)
	}
	return nil, fmt.Errorf("%w: %q", ErrInvalidIssuer, c.issuer)
}

// checkClaims runs steps 6 to 9 of Verify.
func (v *Validator) checkClaims(c *Claims, h header, now time.Time) error {
	if err := v.checkAudience(c); err != nil {
		return err
	}
	if err := v.checkTime(c, now); err != nil {
		return err
	}
	if err := v.checkType(c, h); err != nil {
		return err
	}
	return checkConfirmation(c)
}

func (v *Validator) checkAudience(c *Claims) error {
	for _, aud := range c.audience {
		if slices.Contains(v.audiences, aud) {
			return nil
		}
	}
	if len(c.audience) == 0 {
		return fmt.Errorf("%w: no aud", ErrInvalidAudience)
	}
	return fmt.Errorf("%w: %q", ErrInvalidAudience, c.audience)
}

func (v *Validator) checkTime(c *Claims, now time.Time) error {
	switch {
	case c.expiry.IsZero():
		return fmt.Errorf("%w: no exp", ErrInvalidClaims)
	case !now.Before(c.expiry.Add(v.leeway)):
		return fmt.Errorf("%w at %v", ErrExpired, c.expiry.UTC())
	case !c.notBefore.IsZero() && now.Add(v.leeway).Before(c.notBefore):
		return fmt.Errorf("%w: not valid before %v", ErrInvalidClaims, c.notBefore.UTC())
	case !c.issuedAt.IsZero() && now.Add(v.leeway).Before(c.issuedAt):
		return fmt.Errorf("%w: issued in the future, at %v", ErrInvalidClaims, c.issuedAt.UTC())
	}
	return nil
}

// idTokenClaims are claims only an OpenID Connect ID token carries.
var idTokenClaims = [...]string{"nonce", "at_hash", "c_hash", "s_hash"}

func (v *Validator) checkType(c *Claims, h header) error {
	switch {
	case h.typ == typeAccessToken:
		return nil
	case h.typ == typeOther || !v.acceptJWT:
		return fmt.Errorf("%w: typ is not at+jwt", ErrInvalidType)
	}
	if c.idTokenClaim != "" {
		return fmt.Errorf("%w: looks like an ID token (%s)", ErrInvalidType, c.idTokenClaim)
	}
	if c.azpIsString && slices.Contains(c.audience, c.azp) {
		return fmt.Errorf("%w: looks like an ID token (azp is an audience)", ErrInvalidType)
	}
	return nil
}

func checkConfirmation(c *Claims) error {
	if c.hasCnf {
		return ErrSenderConstrained
	}
	return nil
}
