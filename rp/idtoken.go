package rp

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// idTokenVerifier applies the ID token rules of OpenID Connect Core
// §3.1.3.7 (and §12.2 for refreshes). go-oidc checks the signature against
// the algorithm allowlist and the issuer; every other rule is a named step
// here.
type idTokenVerifier struct {
	rp   *RP
	keys *keySet
	v    *oidc.IDTokenVerifier
}

func newIDTokenVerifier(rp *RP, algs []string) *idTokenVerifier {
	keys := newKeySet(rp, algs)
	return &idTokenVerifier{
		rp:   rp,
		keys: keys,
		v: oidc.NewVerifier(rp.meta.Issuer, keys, &oidc.Config{
			ClientID:             rp.cfg.ClientID,
			SupportedSigningAlgs: algs,
			// go-oidc checks the signature and the algorithm; iss, aud
			// and the times are named steps below.
			SkipIssuerCheck:   true,
			SkipClientIDCheck: true,
			SkipExpiryCheck:   true,
		}),
	}
}

// idClaims are the ID token claims the rules look at.
type idClaims struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	AZP      string          `json:"azp"`
	Expiry   *float64        `json:"exp"`
	IssuedAt *float64        `json:"iat"`
	NotBef   *float64        `json:"nbf"`
	AuthTime *float64        `json:"auth_time"`
	Nonce    string          `json:"nonce"`
	ACR      string          `json:"acr"`
	SID      string          `json:"sid"`
	AtHash   string          `json:"at_hash"`

	aud []string
	all map[string]any
}

// verifiedIDToken is an ID token that passed every rule.
type verifiedIDToken struct {
	raw    string
	claims idClaims
}

// expectations are what the login (or the original ID token) fixes.
type expectations struct {
	nonce       string // login: must equal; refresh: tolerated if equal
	accessToken string // checked against at_hash when present
	refreshOf   *idClaims
}

// verify checks raw against every rule and returns its claims.
func (v *idTokenVerifier) verify(ctx context.Context, raw string, want expectations) (*verifiedIDToken, error) {
	alg, err := checkHeader(raw)
	if err != nil {
		return nil, err
	}
	tok, err := v.v.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSignature, err)
	}
	var c idClaims
	if err := tok.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidIDToken, err)
	}
	if err := tok.Claims(&c.all); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidIDToken, err)
	}
	c.aud = tok.Audience
	now := v.rp.cfg.Now()
	steps := []func() error{
		func() error { return v.checkIssuer(&c) },
		func() error { return v.checkSubject(&c) },
		func() error { return v.checkAudience(&c) },
		func() error { return v.checkTimes(&c, now) },
		func() error { return v.checkAuthTime(&c, now, want.refreshOf) },
		func() error { return v.checkNonce(&c, want) },
		func() error { return v.checkACR(&c, want.refreshOf) },
		func() error { return checkAtHash(tok, alg, want.accessToken) },
		func() error { return checkRefreshed(&c, want.refreshOf) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return &verifiedIDToken{raw: raw, claims: c}, nil
}

// checkHeader refuses critical header parameters we do not understand and
// a typ other than JWT: an access token or a logout token is not an ID token.
// It returns the alg, which the signature check then holds the token to.
func checkHeader(raw string) (alg string, err error) {
	head, _, ok := strings.Cut(raw, ".")
	if !ok || len(head) > 4096 {
		return "", fmt.Errorf("%w: malformed", ErrInvalidIDToken)
	}
	b, err := b64.DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("%w: malformed header", ErrInvalidIDToken)
	}
	var h struct {
		Alg  string          `json:"alg"`
		Typ  *string         `json:"typ"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return "", fmt.Errorf("%w: malformed header", ErrInvalidIDToken)
	}
	if h.Crit != nil {
		return "", fmt.Errorf("%w: unsupported critical header parameters %s", ErrInvalidIDToken, h.Crit)
	}
	if h.Typ != nil && !strings.EqualFold(*h.Typ, "JWT") && !strings.EqualFold(*h.Typ, "application/jwt") {
		return "", fmt.Errorf("%w: typ %q is not an ID token", ErrInvalidIDToken, *h.Typ)
	}
	return h.Alg, nil
}

// checkIssuer requires the issuer the RP discovered, exactly.
func (v *idTokenVerifier) checkIssuer(c *idClaims) error {
	if c.Issuer != v.rp.meta.Issuer {
		return fmt.Errorf("%w: ID token issued by %q", ErrIssuerMismatch, c.Issuer)
	}
	return nil
}

func (v *idTokenVerifier) checkSubject(c *idClaims) error {
	if c.Subject == "" || len(c.Subject) > 255 {
		return fmt.Errorf("%w: sub is missing or longer than 255 characters", ErrInvalidIDToken)
	}
	return nil
}

// checkAudience requires the client among the audiences, every audience
// to be trusted, and azp (required with several audiences) to be the
// client.
func (v *idTokenVerifier) checkAudience(c *idClaims) error {
	if !slices.Contains(c.aud, v.rp.cfg.ClientID) {
		return fmt.Errorf("%w: the audience %q does not include this client", ErrInvalidIDToken, c.aud)
	}
	for _, a := range c.aud {
		if a != v.rp.cfg.ClientID && !slices.Contains(v.rp.cfg.ExtraAudiences, a) {
			return fmt.Errorf("%w: untrusted audience %q", ErrInvalidIDToken, a)
		}
	}
	if len(c.aud) > 1 && c.AZP == "" {
		return fmt.Errorf("%w: azp is required with several audiences", ErrInvalidIDToken)
	}
	if c.AZP != "" && c.AZP != v.rp.cfg.ClientID {
		return fmt.Errorf("%w: azp %q is not this client", ErrInvalidIDToken, c.AZP)
	}
	return nil
}

func (v *idTokenVerifier) checkTimes(c *idClaims, now time.Time) error {
	leeway := v.rp.cfg.Leeway
	switch {
	case c.Expiry == nil:
		return fmt.Errorf("%w: exp is missing", ErrInvalidIDToken)
	case !now.Before(unix(*c.Expiry).Add(leeway)):
		return fmt.Errorf("%w: ID token expired at %v", ErrExpired, unix(*c.Expiry))
	case c.IssuedAt == nil:
		return fmt.Errorf("%w: iat is missing", ErrInvalidIDToken)
	case unix(*c.IssuedAt).After(now.Add(leeway)):
		return fmt.Errorf("%w: iat is in the future", ErrInvalidIDToken)
	case c.NotBef != nil && unix(*c.NotBef).After(now.Add(leeway)):
		return fmt.Errorf("%w: not valid before %v", ErrInvalidIDToken, unix(*c.NotBef))
	}
	return nil
}

// checkAuthTime enforces max_age (Core §3.1.2.1): auth_time is then
// required and must be recent enough.
func (v *idTokenVerifier) checkAuthTime(c *idClaims, now time.Time, orig *idClaims) error {
	maxAge := v.rp.cfg.MaxAge
	if maxAge <= 0 || orig != nil {
		return nil
	}
	if c.AuthTime == nil {
		return fmt.Errorf("%w: auth_time is required with max_age", ErrInvalidIDToken)
	}
	if now.Sub(unix(*c.AuthTime)) > maxAge+v.rp.cfg.Leeway {
		return fmt.Errorf("%w: authentication at %v is older than max_age", ErrInvalidIDToken, unix(*c.AuthTime))
	}
	return nil
}

// checkNonce requires the login's nonce. A refreshed ID token need not
// carry one; if it does, it must be the original's (Core §12.2).
func (v *idTokenVerifier) checkNonce(c *idClaims, want expectations) error {
	if want.refreshOf != nil {
		if c.Nonce != "" && c.Nonce != want.refreshOf.Nonce {
			return fmt.Errorf("%w: refreshed ID token has another nonce", ErrNonceMismatch)
		}
		return nil
	}
	if want.nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(want.nonce)) != 1 {
		return ErrNonceMismatch
	}
	return nil
}

func (v *idTokenVerifier) checkACR(c *idClaims, orig *idClaims) error {
	acrs := v.rp.cfg.ACRValues
	if len(acrs) == 0 || orig != nil || slices.Contains(acrs, c.ACR) {
		return nil
	}
	return fmt.Errorf("%w: acr %q is not one of %v", ErrInvalidIDToken, c.ACR, acrs)
}

// checkAtHash binds the ID token to the access token when at_hash is
// present (Core §3.1.3.8; it is optional in the code flow). go-oidc knows
// no HS* algorithm here, so those are hashed in hmacAtHash.
func checkAtHash(tok *oidc.IDToken, alg, accessToken string) error {
	if tok.AccessTokenHash == "" || accessToken == "" {
		return nil
	}
	if h, ok := hmacAtHash(alg, accessToken); ok {
		if subtle.ConstantTimeCompare([]byte(h), []byte(tok.AccessTokenHash)) != 1 {
			return fmt.Errorf("%w: at_hash does not match the access token", ErrInvalidIDToken)
		}
		return nil
	}
	if err := tok.VerifyAccessToken(accessToken); err != nil {
		return fmt.Errorf("%w: at_hash does not match the access token", ErrInvalidIDToken)
	}
	return nil
}

// hmacAtHash is the at_hash of accessToken for the HS* algorithms: the
// left half of its hash with the algorithm's hash function.
func hmacAtHash(alg, accessToken string) (string, bool) {
	var sum []byte
	switch alg {
	case "HS256":
		s := sha256.Sum256([]byte(accessToken))
		sum = s[:]
	case "HS384":
		s := sha512.Sum384([]byte(accessToken))
		sum = s[:]
	case "HS512":
		s := sha512.Sum512([]byte(accessToken))
		sum = s[:]
	default:
		return "", false
	}
	return b64.EncodeToString(sum[:len(sum)/2]), true
}

// checkRefreshed applies Core §12.2: a refreshed ID token keeps iss, sub,
// aud, azp and auth_time.
func checkRefreshed(c, orig *idClaims) error {
	if orig == nil {
		return nil
	}
	switch {
	case c.Issuer != orig.Issuer:
		return fmt.Errorf("%w: refreshed ID token has another iss", ErrIssuerMismatch)
	case c.Subject != orig.Subject:
		return fmt.Errorf("%w: refreshed ID token has another sub", ErrInvalidIDToken)
	case !slices.Equal(sorted(c.aud), sorted(orig.aud)):
		return fmt.Errorf("%w: refreshed ID token has another aud", ErrInvalidIDToken)
	case c.AZP != orig.AZP: // added, removed or changed
		return fmt.Errorf("%w: refreshed ID token has another azp", ErrInvalidIDToken)
	case orig.AuthTime != nil && c.AuthTime != nil && *c.AuthTime != *orig.AuthTime:
		return fmt.Errorf("%w: refreshed ID token has another auth_time", ErrInvalidIDToken)
	}
	return nil
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func unix(f float64) time.Time { return time.Unix(int64(f), 0) }

// parseTrusted reads the claims of an ID token this RP verified earlier and
// kept in its sealed session; its signature is not checked again (the keys
// may have rotated since).
func (v *idTokenVerifier) parseTrusted(raw string) (*idClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: stored ID token is malformed", ErrInvalidIDToken)
	}
	b, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: stored ID token is malformed", ErrInvalidIDToken)
	}
	var c idClaims
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: stored ID token is malformed", ErrInvalidIDToken)
	}
	var one string
	if json.Unmarshal(c.Audience, &one) == nil {
		c.aud = []string{one}
	} else if json.Unmarshal(c.Audience, &c.aud) != nil {
		return nil, fmt.Errorf("%w: stored ID token has a malformed aud", ErrInvalidIDToken)
	}
	return &c, nil
}
