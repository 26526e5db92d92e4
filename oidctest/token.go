package oidctest

import (
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
)

// Grant types beyond RFC 6749's.
const (
	grantTypeDeviceCode    = "urn:ietf:params:oauth:grant-type:device_code"
	grantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// token is the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	s.setDPoPNonce(w)
	// The proof is checked before the client authenticates, so that a
	// retry with the server's nonce can reuse a one-time client assertion.
	jkt, derr := s.checkDPoP(r, s.Issuer+"/token", "")
	if derr != nil {
		dpopTokenError(w, derr)
		return
	}
	c, ok := s.authenticateClient(w, r)
	if !ok {
		return
	}
	if c.DPoPBoundAccessTokens && jkt == "" {
		oauthError(w, http.StatusBadRequest, errInvalidDPoPProof, "a DPoP proof is required for this client")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		s.codeGrant(w, r, c, jkt)
	case "refresh_token":
		s.refreshGrant(w, r, c, jkt)
	case "client_credentials":
		s.clientCredentialsGrant(w, r, c, jkt)
	case grantTypeDeviceCode:
		s.deviceCodeGrant(w, r, c, jkt)
	case grantTypeTokenExchange:
		s.tokenExchangeGrant(w, r, c, jkt)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type "+gt)
	}
}

func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request, c Client, jkt string) {
	code := r.PostForm.Get("code")
	s.state.mu.Lock()
	e, ok := s.state.codes[code]
	reused := ok && e.used
	if reused {
		// A code presented twice was stolen or replayed: revoke what the
		// first redemption issued (RFC 6749 §4.1.2).
		s.state.revokedFamily[e.family] = true
	}
	if ok && !reused {
		e.used = true // burnt even if the checks below fail
		// The family is fixed now, under the lock, so a concurrent
		// second redemption revokes what this one issues.
		e.family = randomID()
	}
	s.state.mu.Unlock()
	switch {
	case !ok:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
	case reused:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code was already used")
	default:
		s.redeemCode(w, r, c, e, jkt)
	}
}

// redeemCode checks a first-time code redemption and issues tokens.
func (s *Server) redeemCode(w http.ResponseWriter, r *http.Request, c Client, e *codeEntry, jkt string) {
	verifier := r.PostForm.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case e.clientID != c.ID:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code was issued to another client")
		return
	case !s.now().Before(e.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code expired")
		return
	case r.PostForm.Get("redirect_uri") != e.redirectURI:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request")
		return
	case verifier == "":
		oauthError(w, http.StatusBadRequest, "invalid_request", "code_verifier is required (PKCE)")
		return
	case !validVerifierSyntax(verifier) || len(verifier) < 43 || len(verifier) > 128:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "malformed code_verifier")
		return
	case b64.EncodeToString(sum[:]) != e.codeChallenge:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge")
		return
	case e.dpopJKT != "" && jkt != e.dpopJKT:
		// RFC 9449 §10: the code is bound to the dpop_jkt of the request.
		oauthError(w, http.StatusBadRequest, "invalid_grant", "code is bound to another DPoP key (dpop_jkt)")
		return
	}
	g := e.grant
	aud, ok := narrowResources(g.resources, r.PostForm["resource"])
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_target", "resource was not part of the authorization request")
		return
	}
	g.family = e.family
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: aud, user: true, jkt: jkt})
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, c Client, jkt string) {
	rt := r.PostForm.Get("refresh_token")
	now := s.now()
	s.state.mu.Lock()
	e, ok := s.state.refresh[rt]
	code, problem := "invalid_grant", ""
	switch {
	case !ok:
		problem = "unknown refresh token"
	case e.clientID != c.ID:
		problem = "refresh token was issued to another client"
	case s.state.revokedFamily[e.grant.family]:
		problem = "refresh token was revoked"
	case e.used:
		// Reuse of a rotated token: someone else holds a copy. Revoke
		// every token of the family (OAuth 2.0 Security BCP §4.14).
		s.state.revokedFamily[e.grant.family] = true
		problem = "refresh token was already used; the grant is revoked"
	case !now.Before(e.expires):
		problem = "refresh token expired"
	case e.jkt != "" && jkt == "":
		code, problem = errInvalidDPoPProof, "refresh token is DPoP-bound: a DPoP proof is required"
	case e.jkt != "" && jkt != e.jkt:
		problem = "refresh token is bound to another DPoP key"
	}
	var g grant
	var aud []string
	if problem == "" {
		// Check the request before rotating: a refused request must not
		// use the token up, or its retry would look like reuse.
		g, aud, code, problem = narrowGrant(e.grant, r.PostForm)
	}
	if problem == "" && !s.cfg.NoRefreshRotation {
		e.used = true
	}
	s.state.mu.Unlock()
	if problem != "" {
		oauthError(w, http.StatusBadRequest, code, problem)
		return
	}
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: aud, user: true, refreshed: rt, jkt: jkt})
}

// narrowGrant applies the scope and resource parameters of a refresh
// request, which may only narrow g. It returns an error code and
// description when they ask for more.
func narrowGrant(g grant, form url.Values) (narrowed grant, aud []string, code, problem string) {
	if scope := form.Get("scope"); scope != "" {
		granted := strings.Fields(g.scope)
		for _, sc := range strings.Fields(scope) {
			if !contains(granted, sc) {
				return g, nil, "invalid_scope", "scope " + sc + " was not granted"
			}
		}
		g.scope = scope
	}
	aud, ok := narrowResources(g.resources, form["resource"])
	if !ok {
		return g, nil, "invalid_target", "resource was not granted"
	}
	return g, aud, "", ""
}

func (s *Server) clientCredentialsGrant(w http.ResponseWriter, r *http.Request, c Client, jkt string) {
	if c.authMethod() == "none" {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", "public clients cannot use client_credentials")
		return
	}
	resources := r.PostForm["resource"]
	if !validResources(resources) {
		oauthError(w, http.StatusBadRequest, "invalid_target", "resource must be an absolute URI without fragment")
		return
	}
	g := grant{clientID: c.ID, subject: c.ID, scope: r.PostForm.Get("scope"), resources: resources}
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: resources, jkt: jkt})
}

// validResources reports whether every RFC 8707 resource is an absolute
// URI without a fragment.
func validResources(resources []string) bool {
	for _, res := range resources {
		if u, err := url.Parse(res); err != nil || !u.IsAbs() || u.Fragment != "" {
			return false
		}
	}
	return true
}

// narrowResources returns the audience for a token request: the requested
// resources, which must all have been granted, or every granted one.
func narrowResources(granted, requested []string) ([]string, bool) {
	if len(requested) == 0 {
		return granted, true
	}
	for _, r := range requested {
		if len(granted) > 0 && !contains(granted, r) {
			return nil, false
		}
	}
	return requested, true
}

func (s *Server) issueAndRespond(w http.ResponseWriter, ir issueRequest) {
	resp, err := s.issue(ir)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	if f := s.currentFaults().TokenResponse; f != nil {
		f(resp)
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// validVerifierSyntax reports whether v uses only the unreserved characters
// RFC 7636 allows in a code verifier (and in an S256 challenge).
func validVerifierSyntax(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return v != ""
}
