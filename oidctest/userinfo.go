package oidctest

import (
	"net/http"
	"strings"
)

// userinfo is the UserInfo endpoint: it answers the claims the access
// token's scope releases. A DPoP-bound token must come with the DPoP
// scheme and a proof of its key (RFC 9449 §7); an unbound one with Bearer.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	isDPoP := strings.EqualFold(scheme, "DPoP")
	if !isDPoP && !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		w.Header().Add("WWW-Authenticate", `DPoP algs="`+strings.Join(dpopAlgs, " ")+`"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var jkt string
	if isDPoP {
		var derr *dpopError
		if jkt, derr = s.checkDPoP(r, s.Issuer+"/userinfo", tok); derr != nil {
			s.dpopChallenge(w, derr.code, derr.description)
			return
		}
		if jkt == "" {
			s.dpopChallenge(w, errInvalidDPoPProof, "the DPoP scheme needs a DPoP proof")
			return
		}
	}
	e, ok := s.activeAccessToken(tok)
	switch {
	case !ok && isDPoP:
		s.dpopChallenge(w, "invalid_token", "the access token is invalid")
		return
	case !ok:
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	case e.jkt != "" && !isDPoP:
		s.dpopChallenge(w, "invalid_token", "the access token is DPoP-bound: use the DPoP scheme with a proof")
		return
	case e.jkt == "" && isDPoP:
		s.dpopChallenge(w, "invalid_token", "the access token is not DPoP-bound: use the Bearer scheme")
		return
	case isDPoP && jkt != e.jkt:
		s.dpopChallenge(w, errInvalidDPoPProof, "the DPoP proof's key is not the one the access token is bound to")
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
// access token, JWT or opaque.
func (s *Server) activeAccessToken(tok string) (accessEntry, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	e, ok := s.state.access[tok]
	if !ok || e.revoked || s.state.revokedFamily[e.family] || !s.now().Before(e.expires) {
		return accessEntry{}, false
	}
	return *e, true
}
