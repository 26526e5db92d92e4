package rp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxFrontchannelQuery caps the query of a front-channel logout request,
// which carries only iss and sid: nothing longer is parsed.
const maxFrontchannelQuery = 8 << 10

// maxSIDLength caps the sid a front-channel logout request may name.
const maxSIDLength = 1024

// FrontchannelLogout receives OpenID Connect Front-Channel Logout 1.0
// requests, which the provider has the user's browser load in an iframe:
// GET with iss, which must be the provider's issuer, and sid, the provider
// session to end (register the client with frontchannel_logout_session_required
// so the provider sends both). The logout is recorded in Config.Logouts and
// passed to a SessionEnder store like a back-channel one, and the session
// of this browser, if it has that sid, is deleted. It answers 200 with
// Cache-Control: no-store and a small HTML page; 400 when iss or sid is
// wrong or missing (sid at most 1 KiB) or the query is longer than 8 KiB,
// 405 for another method than GET, 500 when the logout
// could not be recorded or the store could not end the sessions.
//
// Not checked: who sent the request. Nothing in it is signed, so anyone
// who knows a sid can end that provider session here; sids are unguessable
// and travel only in ID tokens and between the provider and its RPs, but
// prefer back-channel logout where the provider offers it. Browsers do not
// send SameSite=Lax cookies to a cross-site iframe, so deleting this
// browser's session seldom happens: the logout list is what ends it.
func (rp *RP) FrontchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	status, msg, err := rp.frontchannelLogout(w, r)
	rp.cfg.Hooks.frontchannelLogout(r.Context(), err)
	if err != nil {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, "<!doctype html><title>Signed out</title><p>Signed out.</p>\n")
}

// frontchannelLogout checks and applies a front-channel logout request; on
// failure it returns the status and the text to answer, and the error.
func (rp *RP) frontchannelLogout(w http.ResponseWriter, r *http.Request) (status int, msg string, err error) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		return http.StatusMethodNotAllowed, "method not allowed", fmt.Errorf("rp: front-channel logout: method %s, want GET", r.Method)
	}
	if len(r.URL.RawQuery) > maxFrontchannelQuery {
		msg = "the query is too long"
		return http.StatusBadRequest, msg, errors.New("rp: front-channel logout: " + msg)
	}
	q := r.URL.Query()
	iss, sid := q.Get("iss"), q.Get("sid")
	switch {
	case iss != rp.meta.Issuer:
		msg = "iss is missing or not this app's provider"
		return http.StatusBadRequest, msg, errors.New("rp: front-channel logout: " + msg)
	case sid == "" || len(sid) > maxSIDLength:
		msg = "sid is missing or too long"
		return http.StatusBadRequest, msg, errors.New("rp: front-channel logout: " + msg)
	}
	if _, err := rp.endSessions(r.Context(), sid, ""); err != nil {
		rp.log.Warn("rp: front-channel logout", "err", err)
		return http.StatusInternalServerError, "logout failed", fmt.Errorf("rp: front-channel logout: %w", err)
	}
	// loadSession no longer accepts the session: read it directly.
	if s, err := rp.cfg.Sessions.Get(r, rp.cfg.SessionName); err == nil && !s.IsNew {
		if d, ok := decodeSession(s); ok && d.Issuer == rp.meta.Issuer && d.SID == sid {
			if err := deleteSession(w, r, rp.cfg.Sessions, s); err != nil {
				rp.log.Warn("rp: delete session at front-channel logout", "err", err)
			}
		}
	}
	return http.StatusOK, "", nil
}
