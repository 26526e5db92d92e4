package rp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrInvalidLogoutToken: a back-channel logout token breaks a rule of
// Back-Channel Logout 1.0 §2.6 (or was seen before). A bad signature also
// matches ErrInvalidSignature, and a wrong issuer ErrIssuerMismatch.
var ErrInvalidLogoutToken = errors.New("rp: invalid logout token")

// backchannelLogoutEvent is the member of a logout token's events claim
// that makes it one (Back-Channel Logout 1.0 §2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Bounds on a logout token's life, beyond its own exp.
const (
	// logoutTokenNoExpLife is the life of a token without exp: Back-Channel
	// Logout 1.0 as published in 2022 did not name exp (its 2023 errata
	// make it REQUIRED, and its security considerations advise two
	// minutes), so a token without one is accepted for two minutes after
	// its iat.
	logoutTokenNoExpLife = 2 * time.Minute
	// logoutTokenMaxAge bounds every token's life whatever its exp, so
	// that its jti need not be remembered longer to refuse a replay.
	logoutTokenMaxAge = 10 * time.Minute
)

// logoutTokenError is a logout token failing a check it shares with ID
// tokens: it matches ErrInvalidLogoutToken and the check's own sentinel
// (ErrInvalidSignature, ErrIssuerMismatch), with one "rp:" prefix.
type logoutTokenError struct{ err error }

func (e logoutTokenError) Error() string {
	return ErrInvalidLogoutToken.Error() + ": " + strings.TrimPrefix(e.err.Error(), "rp: ")
}

func (e logoutTokenError) Unwrap() []error { return []error{ErrInvalidLogoutToken, e.err} }

// logoutToken holds the claims of a logout token.
type logoutToken struct {
	Issuer   string          `json:"iss"`
	Subject  string          `json:"sub"`
	Audience json.RawMessage `json:"aud"`
	IssuedAt *float64        `json:"iat"`
	Expiry   *float64        `json:"exp"`
	JTI      string          `json:"jti"`
	SID      string          `json:"sid"`
	Events   json.RawMessage `json:"events"`

	all   map[string]json.RawMessage // every claim, to see which are present
	until time.Time                  // when it can no longer be accepted
}

// verifyLogoutToken applies Back-Channel Logout 1.0 §2.6: the header
// (typ logout+jwt when present, no crit), the signature as for ID tokens
// (the provider's keys, the algorithm allowlist, never none), then the
// claims, one named step each.
func (rp *RP) verifyLogoutToken(ctx context.Context, raw string) (*logoutToken, error) {
	if err := checkLogoutHeader(raw); err != nil {
		return nil, err
	}
	payload, err := rp.verifier.keys.VerifySignature(ctx, raw)
	if err != nil {
		return nil, logoutTokenError{err}
	}
	t, err := parseLogoutToken(payload)
	if err != nil {
		return nil, err
	}
	now := rp.cfg.Now()
	steps := []func() error{
		func() error { return rp.checkLogoutIssuer(t) },
		func() error { return rp.checkLogoutAudience(t) },
		func() error { return rp.checkLogoutTimes(t, now) },
		func() error { return checkLogoutEvents(t) },
		func() error { return checkLogoutSubject(t) },
		func() error { return checkLogoutNonce(t) },
		func() error { return checkLogoutJTI(t) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// checkLogoutHeader requires a compact JWS whose typ, when present, is
// logout+jwt (explicit typing, §2.4: an ID token or an access token is not
// a logout token) and which has no crit parameter.
func checkLogoutHeader(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || len(parts[0]) > 4096 {
		return fmt.Errorf("%w: not a compact JWT", ErrInvalidLogoutToken)
	}
	b, err := b64.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("%w: malformed header", ErrInvalidLogoutToken)
	}
	var h struct {
		Typ  *string         `json:"typ"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("%w: malformed header", ErrInvalidLogoutToken)
	}
	if h.Crit != nil {
		return fmt.Errorf("%w: unsupported critical header parameters %s", ErrInvalidLogoutToken, h.Crit)
	}
	if h.Typ != nil && !strings.EqualFold(*h.Typ, "logout+jwt") && !strings.EqualFold(*h.Typ, "application/logout+jwt") {
		return fmt.Errorf("%w: typ %q is not logout+jwt", ErrInvalidLogoutToken, *h.Typ)
	}
	return nil
}

func parseLogoutToken(payload []byte) (*logoutToken, error) {
	var t logoutToken
	if err := json.Unmarshal(payload, &t); err != nil {
		return nil, fmt.Errorf("%w: malformed claims: %v", ErrInvalidLogoutToken, err)
	}
	if err := json.Unmarshal(payload, &t.all); err != nil || t.all == nil {
		return nil, fmt.Errorf("%w: the claims are not a JSON object", ErrInvalidLogoutToken)
	}
	return &t, nil
}

func (rp *RP) checkLogoutIssuer(t *logoutToken) error {
	if t.Issuer != rp.meta.Issuer {
		return logoutTokenError{fmt.Errorf("%w: iss %q", ErrIssuerMismatch, t.Issuer)}
	}
	return nil
}

// checkLogoutAudience requires the client among the audiences, and every
// audience trusted, as for ID tokens.
func (rp *RP) checkLogoutAudience(t *logoutToken) error {
	var aud []string
	var one string
	if json.Unmarshal(t.Audience, &one) == nil {
		aud = []string{one}
	} else if json.Unmarshal(t.Audience, &aud) != nil {
		return fmt.Errorf("%w: aud is missing or malformed", ErrInvalidLogoutToken)
	}
	if !slices.Contains(aud, rp.cfg.ClientID) {
		return fmt.Errorf("%w: aud %q does not name this client", ErrInvalidLogoutToken, aud)
	}
	for _, a := range aud {
		if a != rp.cfg.ClientID && !slices.Contains(rp.cfg.ExtraAudiences, a) {
			return fmt.Errorf("%w: untrusted audience %q", ErrInvalidLogoutToken, a)
		}
	}
	return nil
}

// checkLogoutTimes requires iat, not in the future; and the token alive:
// before its exp, or two minutes after iat without exp, and at most ten
// minutes after iat whatever exp says (each with Config.Leeway). It sets
// t.until, how long the jti must be remembered.
func (rp *RP) checkLogoutTimes(t *logoutToken, now time.Time) error {
	leeway := rp.cfg.Leeway
	if t.IssuedAt == nil {
		return fmt.Errorf("%w: iat is missing", ErrInvalidLogoutToken)
	}
	iat := unix(*t.IssuedAt)
	if iat.After(now.Add(leeway)) {
		return fmt.Errorf("%w: iat is in the future", ErrInvalidLogoutToken)
	}
	end := iat.Add(logoutTokenNoExpLife)
	if t.Expiry != nil {
		end = unix(*t.Expiry)
	}
	if limit := iat.Add(logoutTokenMaxAge); end.After(limit) {
		end = limit
	}
	t.until = end.Add(leeway)
	if !now.Before(t.until) {
		return fmt.Errorf("%w: expired at %v", ErrInvalidLogoutToken, end)
	}
	return nil
}

// checkLogoutEvents requires an events object whose back-channel logout
// member is an object (§2.4).
func checkLogoutEvents(t *logoutToken) error {
	var events map[string]json.RawMessage
	if json.Unmarshal(t.Events, &events) != nil || events == nil {
		return fmt.Errorf("%w: events is missing or not an object", ErrInvalidLogoutToken)
	}
	ev, ok := events[backchannelLogoutEvent]
	if !ok {
		return fmt.Errorf("%w: events has no %s member", ErrInvalidLogoutToken, backchannelLogoutEvent)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(ev, &obj) != nil || obj == nil {
		return fmt.Errorf("%w: the back-channel logout event is not an object", ErrInvalidLogoutToken)
	}
	return nil
}

func checkLogoutSubject(t *logoutToken) error {
	if t.SID == "" && t.Subject == "" {
		return fmt.Errorf("%w: neither sid nor sub", ErrInvalidLogoutToken)
	}
	return nil
}

// checkLogoutNonce refuses a nonce, which a logout token must not have so
// that it can never pass for an ID token (§2.4).
func checkLogoutNonce(t *logoutToken) error {
	if _, ok := t.all["nonce"]; ok {
		return fmt.Errorf("%w: nonce is present", ErrInvalidLogoutToken)
	}
	return nil
}

func checkLogoutJTI(t *logoutToken) error {
	if t.JTI == "" {
		return fmt.Errorf("%w: jti is missing", ErrInvalidLogoutToken)
	}
	return nil
}
