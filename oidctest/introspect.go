package oidctest

import "net/http"

// introspect is the RFC 7662 introspection endpoint, open to every
// authenticated client. It answers for JWT and opaque access tokens alike,
// and for refresh tokens.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if _, ok := s.authenticateClient(w, r); !ok {
		return
	}
	tok := r.PostForm.Get("token")
	if e, ok := s.activeAccessToken(tok); ok {
		resp := s.accessClaims(&e)
		resp["active"] = true
		resp["token_type"] = e.tokenType()
		writeJSON(w, http.StatusOK, resp)
		return
	}
	s.state.mu.Lock()
	e, ok := s.state.refresh[tok]
	active := ok && !e.used && !s.state.revokedFamily[e.family] && s.now().Before(e.expires)
	s.state.mu.Unlock()
	if !active {
		writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	resp := map[string]any{
		"active":     true,
		"token_type": "refresh_token",
		"client_id":  e.clientID,
		"sub":        e.subject,
		"iss":        s.Issuer,
		"exp":        e.expires.Unix(),
		"scope":      e.scope,
	}
	if e.jkt != "" {
		resp["cnf"] = map[string]any{"jkt": e.jkt}
	}
	writeJSON(w, http.StatusOK, resp)
}
