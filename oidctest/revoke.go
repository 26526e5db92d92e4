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
