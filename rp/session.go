package rp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/session"
)

// User is the logged-in user of a request.
type User struct {
	Issuer  string
	Subject string
	// SessionID is the provider's session (the ID token's sid), if any.
	SessionID string
	// Claims are the ID token's claims, plus userinfo's when fetched.
	Claims map[string]any
}

type userKey struct{}

// UserFrom returns the logged-in user that Authenticate or RequireLogin
// put in ctx.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok
}

// sessionData is what a session holds. It is stored as plain strings and
// integers so any gorilla store can encode it.
type sessionData struct {
	Issuer, Subject, SID string
	Claims               map[string]any
	IDToken              string
	Nonce                string
	AccessToken          string
	RefreshToken         string
	TokenType            string
	Expiry               time.Time
	Lifetime             int64 // expires_in of the access token, seconds
	// Created is when the session began (login). A logout recorded for
	// its sid or sub after it ends it. Zero for sessions written before
	// it was recorded: they count as older than any logout.
	Created time.Time
}

func newSessionData(idt *verifiedIDToken, claims map[string]any, tok *client.Token) *sessionData {
	return &sessionData{
		Issuer:       idt.claims.Issuer,
		Subject:      idt.claims.Subject,
		SID:          idt.claims.SID,
		Claims:       claims,
		IDToken:      idt.raw,
		Nonce:        idt.claims.Nonce,
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		TokenType:    tok.TokenType,
		Expiry:       tok.Expiry,
		Lifetime:     tok.ExpiresIn,
	}
}

// token returns d's tokens as a token response would.
func (d *sessionData) token() *client.Token {
	return &client.Token{Token: oauth2.Token{
		AccessToken: d.AccessToken, TokenType: d.TokenType, RefreshToken: d.RefreshToken,
		Expiry: d.Expiry, ExpiresIn: d.Lifetime,
	}}
}

func (d *sessionData) user() *User {
	return &User{Issuer: d.Issuer, Subject: d.Subject, SessionID: d.SID, Claims: d.Claims}
}

func (d *sessionData) encode(s *sessions.Session) error {
	claims, err := json.Marshal(d.Claims)
	if err != nil {
		return fmt.Errorf("rp: encode claims: %w", err)
	}
	s.Values["iss"] = d.Issuer
	s.Values["sub"] = d.Subject
	s.Values["sid"] = d.SID
	s.Values["claims"] = string(claims)
	s.Values["id_token"] = d.IDToken
	s.Values["nonce"] = d.Nonce
	s.Values["access_token"] = d.AccessToken
	s.Values["refresh_token"] = d.RefreshToken
	s.Values["token_type"] = d.TokenType
	s.Values["expiry"] = d.Expiry.Unix()
	s.Values["lifetime"] = d.Lifetime
	if !d.Created.IsZero() {
		s.Values["created"] = d.Created.UnixNano()
	}
	return nil
}

func decodeSession(s *sessions.Session) (*sessionData, bool) {
	str := func(k string) string { v, _ := s.Values[k].(string); return v }
	d := &sessionData{
		Issuer:       str("iss"),
		Subject:      str("sub"),
		SID:          str("sid"),
		IDToken:      str("id_token"),
		Nonce:        str("nonce"),
		AccessToken:  str("access_token"),
		RefreshToken: str("refresh_token"),
		TokenType:    str("token_type"),
	}
	if exp, ok := s.Values["expiry"].(int64); ok && exp > 0 {
		d.Expiry = time.Unix(exp, 0)
	}
	d.Lifetime, _ = s.Values["lifetime"].(int64)
	if ns, ok := s.Values["created"].(int64); ok && ns > 0 {
		d.Created = time.Unix(0, ns)
	}
	if d.Subject == "" || d.Issuer == "" {
		return nil, false
	}
	if err := json.Unmarshal([]byte(str("claims")), &d.Claims); err != nil {
		return nil, false
	}
	return d, true
}

// rotator is a store that can give a session a new ID.
type rotator interface{ Rotate(*sessions.Session) }

// binder is a store that indexes sessions by whom they belong to, so that
// it can end them later (see SessionEnder); session.RedisStore is one.
type binder interface {
	Bind(*sessions.Session, session.Identity)
}

// startSession writes d into a session with a new ID, so an ID planted
// before login (session fixation) is worth nothing after it.
func (rp *RP) startSession(w http.ResponseWriter, r *http.Request, d *sessionData) error {
	store := rp.cfg.Sessions
	s, err := store.New(r, rp.cfg.SessionName)
	if s == nil {
		return fmt.Errorf("rp: new session: %w", err)
	}
	clear(s.Values)
	s.IsNew = true
	if rot, ok := store.(rotator); ok {
		rot.Rotate(s)
	} else {
		s.ID = ""
	}
	if b, ok := store.(binder); ok {
		b.Bind(s, session.Identity{Issuer: d.Issuer, Subject: d.Subject, SID: d.SID})
	}
	d.Created = rp.cfg.Now()
	if err := d.encode(s); err != nil {
		return err
	}
	if err := store.Save(r, w, s); err != nil {
		return fmt.Errorf("rp: save session: %w", err)
	}
	return nil
}

// loadSession returns the session of r and its data. d is nil when r has
// no session of a user logged in here, or one logged out since (see
// Config.Logouts). err, wrapping ErrSessionUnavailable, means that could
// not be found out: the store (with session.ErrUnavailable) or the logout
// list failed.
func (rp *RP) loadSession(r *http.Request) (s *sessions.Session, d *sessionData, err error) {
	s, err = rp.cfg.Sessions.Get(r, rp.cfg.SessionName)
	if errors.Is(err, session.ErrUnavailable) {
		return s, nil, fmt.Errorf("%w: %w", ErrSessionUnavailable, err)
	}
	if err != nil || s == nil || s.IsNew {
		return s, nil, nil
	}
	d, ok := decodeSession(s)
	if !ok || d.Issuer != rp.meta.Issuer {
		return s, nil, nil
	}
	if out, err := rp.loggedOut(r.Context(), d); out || err != nil {
		return s, nil, err
	}
	return s, d, nil
}

// Authenticate puts the logged-in user, if any, into the request context
// (see UserFrom) and calls next either way, unless the session could not
// be read (ErrSessionUnavailable: the session store or Config.Logouts
// failed, say Redis is down): the user may well be logged in, so rather
// than serve them as anonymous it answers 503 with a JSON body
// {"error":"session_unavailable"}. With package session's stores, a
// request without a session cookie asks neither, and never gets that 503.
func (rp *RP) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, d, err := rp.loadSession(r)
		if err != nil {
			rp.log.Warn("rp: session unavailable", "err", err)
			sessionUnavailable(w)
			return
		}
		if d != nil {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, d.user()))
		}
		next.ServeHTTP(w, r)
	})
}

// RequireLogin is Authenticate for pages that need a user: without one,
// GET and HEAD requests are redirected to loginPath with return_to set to
// the current path (loginPath "" means "/login"), and other requests get
// 401 with a JSON body {"error":"login_required"}. When the session could
// not be read it answers 503, as Authenticate does: a user who may be
// logged in is not sent to log in again.
func (rp *RP) RequireLogin(loginPath string, next http.Handler) http.Handler {
	if loginPath == "" {
		loginPath = "/login"
	}
	return rp.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := UserFrom(r.Context()); ok {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			http.Redirect(w, r, loginPath+"?return_to="+url.QueryEscape(SafeReturnTo(r.URL.RequestURI())), http.StatusFound)
			return
		}
		LoginRequired(w)
	}))
}

// LoginRequired answers 401 with {"error":"login_required"}.
func LoginRequired(w http.ResponseWriter) {
	jsonError(w, http.StatusUnauthorized, "login_required")
}

// sessionUnavailable answers 503 with {"error":"session_unavailable"}.
func sessionUnavailable(w http.ResponseWriter) {
	jsonError(w, http.StatusServiceUnavailable, "session_unavailable")
}

// jsonError answers status with {"error":code}; code is a constant token.
func jsonError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `"}` + "\n"))
}
