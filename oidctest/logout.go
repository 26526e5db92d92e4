package oidctest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BackchannelLogoutEvent is the events member of a logout token.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// endSession is the RP-initiated logout endpoint: it ends the user's
// session at the server and sends them to a registered
// post_logout_redirect_uri, with state.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	clientID := r.Form.Get("client_id")
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		s.state.mu.Lock()
		hinted, ok := s.state.idTokens[hint]
		s.state.mu.Unlock()
		if !ok || clientID != "" && clientID != hinted {
			errorPage(w, http.StatusBadRequest, "invalid_request", "id_token_hint was not issued here to this client")
			return
		}
		clientID = hinted
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if redirect != "" {
		c, ok := s.client(clientID)
		if !ok || !contains(c.PostLogoutRedirectURIs, redirect) {
			errorPage(w, http.StatusBadRequest, "invalid_request", "post_logout_redirect_uri is not registered for the client")
			return
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.state.mu.Lock()
		delete(s.state.sessions, c.Value)
		s.state.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: s.cookiePath(), MaxAge: -1, HttpOnly: true})
	if redirect == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!doctype html><title>Signed out</title><p>You are signed out.</p>\n")
		return
	}
	u, _ := url.Parse(redirect) // registered URIs are valid
	if st := r.Form.Get("state"); st != "" {
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// LogoutClaims returns the claims of a valid back-channel logout token for
// clientID: iss, aud, iat, exp, jti, events, and sub and sid when not
// empty. Tests edit them and sign with Sign(claims, SignOptions{Type:
// "logout+jwt"}) to make invalid variants.
func (s *Server) LogoutClaims(clientID, subject, sid string) map[string]any {
	now := s.now()
	claims := map[string]any{
		"iss":    s.Issuer,
		"aud":    clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    randomID(),
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	if subject != "" {
		claims["sub"] = subject
	}
	if sid != "" {
		claims["sid"] = sid
	}
	return claims
}

// SendBackchannelLogout signs a logout token for the subject and/or session
// and posts it to the client's BackchannelLogoutURI. It fails unless the
// client answers 200.
func (s *Server) SendBackchannelLogout(ctx context.Context, clientID, subject, sid string) error {
	c, _ := s.client(clientID)
	opts := SignOptions{Type: "logout+jwt", HMACKey: []byte(c.Secret)} // HS256 is keyed like ID tokens
	tok, err := s.Sign(s.LogoutClaims(clientID, subject, sid), opts)
	if err != nil {
		return err
	}
	status, err := s.PostLogoutToken(ctx, clientID, tok)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("oidctest: back-channel logout to %s: status %d", clientID, status)
	}
	return nil
}

// PostLogoutToken posts logoutToken to the client's BackchannelLogoutURI as
// the logout_token form field and returns the response status.
func (s *Server) PostLogoutToken(ctx context.Context, clientID, logoutToken string) (int, error) {
	c, ok := s.client(clientID)
	if !ok || c.BackchannelLogoutURI == "" {
		return 0, fmt.Errorf("oidctest: client %q has no BackchannelLogoutURI", clientID)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body := url.Values{"logout_token": {logoutToken}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI, strings.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("oidctest: back-channel logout: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("oidctest: back-channel logout: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}
