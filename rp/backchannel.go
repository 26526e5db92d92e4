package rp

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/keyway-go/keyway/session"
)

// maxLogoutBody caps a back-channel logout request body.
const maxLogoutBody = 64 << 10

// SessionEnder is a session store that can end sessions on the server,
// such as session.RedisStore (which also needs the sessions bound to
// their identity: the RP binds them at login when the store has a
// Bind(*sessions.Session, session.Identity) method). Back- and
// front-channel logout call EndSessions when Config.Sessions implements
// it, with the provider's issuer and the logout's sid and/or sub: it must
// end every session bound to an identity matching each of them that is
// not empty, on every replica, and return how many it ended.
//
// Stores without it need nothing: logouts are also recorded in
// Config.Logouts, which refuses the sessions they end wherever they live.
type SessionEnder interface {
	EndSessions(ctx context.Context, id session.Identity) (int, error)
}

// BackchannelLogout receives OpenID Connect Back-Channel Logout 1.0
// requests: a POST of an application/x-www-form-urlencoded body (at most
// 64 KiB) with one logout_token. The token must be a compact JWS whose typ,
// if any, is logout+jwt (or application/logout+jwt) and with no crit; its
// signature must verify as an ID token's does (the provider's keys, an
// algorithm the provider lists, never none); iss must be the provider's,
// aud name the client and only trusted audiences (Config.ExtraAudiences);
// iat must be present and not ahead of now (Config.Leeway allowed); the
// token must be unexpired: before its exp or, without exp (as Back-Channel
// Logout 1.0 allowed until its 2023 errata), within two minutes of iat,
// and in any case within ten minutes of iat; events must be an object
// with a back-channel logout member that is an object; sid or sub must be
// present, nonce absent, jti present and not seen before
// (Config.ReplayCache, which remembers it while the token is alive).
//
// It then ends the provider session named by the token's sid, or when
// there is none every session of its sub: the logout is recorded in
// Config.Logouts, so those sessions, if begun before now, are refused from
// then on by every RP sharing it, and Config.Sessions ends them too if it
// is a SessionEnder. Logging in again afterwards works.
//
// It answers 200 with Cache-Control: no-store, or 400 with a JSON body
// {"error":"invalid_request","error_description":…} (§2.8) when the
// request or the token is invalid, replayed, or the logout could not be
// recorded; never a redirect. A token whose logout failed is spent all the
// same: the provider retries with a new token. It sets no cookie and needs
// none: mount it outside any CSRF protection, since the provider's server
// calls it.
func (rp *RP) BackchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	n, err := rp.backchannelLogout(w, r)
	rp.cfg.Hooks.backchannelLogout(r.Context(), err)
	if err != nil {
		rp.log.Info("rp: back-channel logout refused", "err", err)
		logoutError(w, err)
		return
	}
	rp.log.Debug("rp: back-channel logout", "sessions_ended", n)
	w.WriteHeader(http.StatusOK)
}

// backchannelLogout validates the request and applies the logout; it
// returns the number of sessions a SessionEnder ended.
func (rp *RP) backchannelLogout(w http.ResponseWriter, r *http.Request) (int, error) {
	raw, err := logoutTokenParam(w, r)
	if err != nil {
		return 0, err
	}
	tok, err := rp.verifyLogoutToken(r.Context(), raw)
	if err != nil {
		return 0, err
	}
	replayed, err := rp.cfg.ReplayCache.Seen(r.Context(), replayKey(tok.Issuer, tok.JTI), tok.until)
	switch {
	case err != nil:
		return 0, fmt.Errorf("rp: replay cache: %w", err)
	case replayed:
		return 0, fmt.Errorf("%w: jti was seen before (replay)", ErrInvalidLogoutToken)
	}
	return rp.endSessions(r.Context(), tok.SID, tok.Subject)
}

// logoutTokenParam reads the logout_token form field of a POST body.
func logoutTokenParam(w http.ResponseWriter, r *http.Request) (string, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return "", fmt.Errorf("rp: back-channel logout: method %s, want POST", r.Method)
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return "", errors.New("rp: back-channel logout: Content-Type must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
	if err := r.ParseForm(); err != nil {
		return "", fmt.Errorf("rp: back-channel logout: read form: %w", err)
	}
	switch v := r.PostForm["logout_token"]; len(v) {
	case 0:
		return "", errors.New("rp: back-channel logout: logout_token is missing")
	case 1:
		return v[0], nil
	}
	return "", errors.New("rp: back-channel logout: logout_token is repeated")
}

// logoutError answers 400 with an OAuth 2.0 §5.2 error body.
func logoutError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"error":             "invalid_request",
		"error_description": err.Error(),
	})
}

// endSessions ends the provider session sid or, when sid is empty, every
// session of the user sub: it records the logout in Config.Logouts and
// asks a SessionEnder store to delete the sessions.
func (rp *RP) endSessions(ctx context.Context, sid, sub string) (int, error) {
	kind, value := "sid", sid
	if sid == "" {
		kind, value = "sub", sub
	}
	if err := rp.recordLogout(ctx, kind, value); err != nil {
		return 0, fmt.Errorf("rp: record logout: %w", err)
	}
	ender, ok := rp.cfg.Sessions.(SessionEnder)
	if !ok {
		return 0, nil
	}
	n, err := ender.EndSessions(ctx, session.Identity{Issuer: rp.meta.Issuer, SID: sid, Subject: sub})
	if err != nil {
		return n, fmt.Errorf("rp: end sessions: %w", err)
	}
	return n, nil
}

// recordLogout records in Config.Logouts that the sid or sub (kind) value
// of the provider was logged out now, for as long as a session lives.
func (rp *RP) recordLogout(ctx context.Context, kind, value string) error {
	now := rp.cfg.Now()
	return rp.cfg.Logouts.Record(ctx, now, now.Add(rp.cfg.SessionLifetime), logoutKey(kind, rp.meta.Issuer, value))
}

// loggedOut reports whether a logout recorded for d's sid or sub came
// after d began. Failing to ask is an error wrapping ErrSessionUnavailable:
// the session is refused meanwhile (a logout must not be undone by an
// outage of the list), but not ended.
func (rp *RP) loggedOut(ctx context.Context, d *sessionData) (bool, error) {
	keys := make([]string, 0, 2)
	keys = append(keys, logoutKey("sub", d.Issuer, d.Subject))
	if d.SID != "" {
		keys = append(keys, logoutKey("sid", d.Issuer, d.SID))
	}
	at, err := rp.cfg.Logouts.Latest(ctx, keys...)
	if err != nil {
		return false, fmt.Errorf("%w: logout list: %w", ErrSessionUnavailable, err)
	}
	return !at.IsZero() && !d.Created.After(at), nil
}

// logoutKey names the logout list entry of a sid or sub ("sid" or "sub"
// kind) at issuer: a hash, so keys have one size and show no identifier.
func logoutKey(kind, issuer, value string) string {
	return "logout:" + hashKey(kind, issuer, value)
}

// replayKey names the replay cache entry of a logout token.
func replayKey(issuer, jti string) string {
	return "jti:" + hashKey("jti", issuer, jti)
}

// hashKey hashes its parts, each preceded by its length, so that no two
// lists of parts share a key.
func hashKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return b64.EncodeToString(h.Sum(nil))
}
