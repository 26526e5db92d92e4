package rp

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"

	"github.com/keyway-go/keyway/client"
)

// Errors a login, a refresh or a logout can fail with. Use errors.Is;
// provider error responses are *client.AuthError or *client.TokenError.
var (
	// ErrStateMismatch: the callback's state names no login in progress in
	// this browser (forged, replayed, expired, or from another browser).
	ErrStateMismatch = client.ErrStateMismatch
	// ErrIssuerMismatch: a response or token comes from another issuer
	// than the one the login was started with (mix-up).
	ErrIssuerMismatch = errors.New("rp: issuer mismatch")
	// ErrInvalidSignature: an ID token's signature does not verify with
	// the provider's keys and the allowed algorithms.
	ErrInvalidSignature = errors.New("rp: invalid signature")
	// ErrInvalidIDToken: an ID token breaks a claim rule (aud, azp, iat,
	// nbf, auth_time, acr, at_hash, crit, typ, …).
	ErrInvalidIDToken = errors.New("rp: invalid ID token")
	// ErrExpired: the ID token has expired.
	ErrExpired = errors.New("rp: ID token expired")
	// ErrNonceMismatch: the ID token's nonce is not the login's.
	ErrNonceMismatch = errors.New("rp: nonce mismatch")
	// ErrUserinfoSubject: userinfo answered for another subject.
	ErrUserinfoSubject = errors.New("rp: userinfo sub does not match the ID token")
	// ErrLoginRequired: there is no valid session, or it could not be
	// refreshed (the refresh token was refused) and was ended.
	ErrLoginRequired = errors.New("rp: login required")
	// ErrSessionUnavailable: the session, or the logout list it is checked
	// against, could not be read (Redis down or slow): the user may well
	// be logged in. Answer 503, not a login page. The store's own error
	// is wrapped too (session.ErrUnavailable for Redis).
	ErrSessionUnavailable = errors.New("rp: session unavailable")
)

var b64 = base64.RawURLEncoding

var errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1>Sign-in failed</h1><p>{{.}}</p><p><a href="/">Back to the start page</a></p></body></html>
`))

// defaultErrorPage writes a small HTML page; the error text, which may
// carry provider-supplied words, is HTML-escaped.
func defaultErrorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = errorTemplate.Execute(w, err.Error())
}
