package middleware

import (
	"fmt"
	"slices"
	"time"
)

// The claim rules of an access token, steps 5 to 8 of Verify, and the
// rule of how it is presented (step 10). Each fails with its sentinel and
// quotes the offending value (escaped) for logs.

func (v *Validator) checkIssuer(c *Claims) (*keySet, error) {
	if ks, ok := v.issuers[c.issuer]; ok && c.issuer != "" {
		return ks, nil
	}
	if c.issuer == "" {
		return nil, fmt.Errorf("%w: no iss", ErrInvalidIssuer)
	}
	return nil, fmt.Errorf("%w: %q", ErrInvalidIssuer, c.issuer)
}

// checkClaims runs steps 6 to 8 of Verify.
func (v *Validator) checkClaims(c *Claims, h header, now time.Time) error {
	if err := v.checkAudience(c); err != nil {
		return err
	}
	if err := v.checkTime(c, now); err != nil {
		return err
	}
	return v.checkType(c, h)
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

// Confirmation errors, made once.
var (
	errBoundAsBearer = fmt.Errorf("%w: the token has a cnf claim", ErrSenderConstrained)
	errNotDPoPBound  = fmt.Errorf("%w: the token has no cnf.jkt", ErrDPoPBinding)
)

// checkConfirmation applies the cnf claim (RFC 7800) to how the token was
// presented. It runs after every other step, on cached tokens too, since
// the same token may come with either scheme: as a bearer token (dpop
// false) it must have no cnf at all; with the DPoP scheme it must have a
// cnf.jkt, which checkDPoP then compares with the proof's key.
func checkConfirmation(c *Claims, dpop bool) error {
	switch {
	case !dpop && c.hasCnf:
		return errBoundAsBearer
	case dpop && c.jkt == "":
		return errNotDPoPBound
	}
	return nil
}
