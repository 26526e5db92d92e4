package oidctest

import (
	"net/http"
	"strings"
)

// userinfo is the UserInfo endpoint: it answers the claims the access
// token's scope releases.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	e, ok := s.activeAccessToken(tok)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	u, ok := s.user(e.subject)
	if !ok || !contains(strings.Fields(e.scope), "openid") {
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="openid"`)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	claims := scopedClaims(u, e.scope)
	claims["sub"] = u.Subject
	if f := s.currentFaults().UserinfoClaims; f != nil {
		f(claims)
	}
	writeJSON(w, http.StatusOK, claims)
}

// activeAccessToken returns the entry of an issued, unexpired, unrevoked
// access token.
func (s *Server) activeAccessToken(tok string) (accessEntry, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	e, ok := s.state.access[tok]
	if !ok || e.revoked || s.state.revokedFamily[e.family] || !s.now().Before(e.expires) {
		return accessEntry{}, false
	}
	return *e, true
}
