package oidctest

import "net/http"

// revoke is the RFC 7009 revocation endpoint. Revoking a refresh token
// revokes its whole grant; revoking an access token revokes that token.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	c, ok := s.authenticateClient(w, r)
	if !ok {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	s.state.mu.Lock()
	if e, ok := s.state.refresh[tok]; ok && e.clientID == c.ID {
		s.state.revokedFamily[e.family] = true
	}
	if e, ok := s.state.access[tok]; ok && e.clientID == c.ID {
		e.revoked = true
	}
	s.state.mu.Unlock()
	// Unknown and foreign tokens get 200 too (RFC 7009 §2.2).
	w.WriteHeader(http.StatusOK)
}

// introspect is the RFC 7662 introspection endpoint, open to every
// authenticated client.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if _, ok := s.authenticateClient(w, r); !ok {
		return
	}
	tok := r.PostForm.Get("token")
	inactive := map[string]any{"active": false}
	if e, ok := s.activeAccessToken(tok); ok {
		resp := map[string]any{
			"active":     true,
			"token_type": "Bearer",
			"client_id":  e.clientID,
			"sub":        e.subject,
			"iss":        s.Issuer,
			"aud":        audClaim(e.aud),
			"iat":        e.issued.Unix(),
			"exp":        e.expires.Unix(),
		}
		if e.scope != "" {
			resp["scope"] = e.scope
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	s.state.mu.Lock()
	e, ok := s.state.refresh[tok]
	active := ok && !e.used && !s.state.revokedFamily[e.family] && s.now().Before(e.expires)
	s.state.mu.Unlock()
	if !active {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"active":     true,
		"token_type": "refresh_token",
		"client_id":  e.clientID,
		"sub":        e.subject,
		"iss":        s.Issuer,
		"exp":        e.expires.Unix(),
		"scope":      e.scope,
	})
}
