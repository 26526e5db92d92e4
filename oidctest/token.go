package oidctest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// token is the token endpoint.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	c, ok := s.authenticateClient(w, r)
	if !ok {
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		s.codeGrant(w, r, c)
	case "refresh_token":
		s.refreshGrant(w, r, c)
	case "client_credentials":
		s.clientCredentialsGrant(w, r, c)
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "unsupported grant_type "+gt)
	}
}

func (s *Server) codeGrant(w http.ResponseWriter, r *http.Request, c Client) {
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
		s.redeemCode(w, r, c, e)
	}
}

// redeemCode checks a first-time code redemption and issues tokens.
func (s *Server) redeemCode(w http.ResponseWriter, r *http.Request, c Client, e *codeEntry) {
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
	}
	g := e.grant
	aud, ok := narrowResources(g.resources, r.PostForm["resource"])
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_target", "resource was not part of the authorization request")
		return
	}
	g.family = e.family
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: aud, user: true})
}

func (s *Server) refreshGrant(w http.ResponseWriter, r *http.Request, c Client) {
	rt := r.PostForm.Get("refresh_token")
	now := s.now()
	s.state.mu.Lock()
	e, ok := s.state.refresh[rt]
	var problem string
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
	}
	code := "invalid_grant"
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
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: aud, user: true, refreshed: rt})
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

func (s *Server) clientCredentialsGrant(w http.ResponseWriter, r *http.Request, c Client) {
	if c.authMethod() == "none" {
		oauthError(w, http.StatusBadRequest, "unauthorized_client", "public clients cannot use client_credentials")
		return
	}
	resources := r.PostForm["resource"]
	for _, res := range resources {
		if u, err := url.Parse(res); err != nil || !u.IsAbs() || u.Fragment != "" {
			oauthError(w, http.StatusBadRequest, "invalid_target", "resource must be an absolute URI without fragment")
			return
		}
	}
	g := grant{clientID: c.ID, subject: c.ID, scope: r.PostForm.Get("scope"), resources: resources}
	s.issueAndRespond(w, issueRequest{client: c, grant: g, aud: resources})
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

// authenticateClient authenticates the client of a token, PAR, revocation
// or introspection request, writing the error response when it fails.
func (s *Server) authenticateClient(w http.ResponseWriter, r *http.Request) (Client, bool) {
	id, secret, hasBasic := basicAuth(r)
	form := r.PostForm
	methods := 0
	method := "none"
	if hasBasic {
		methods++
		method = "client_secret_basic"
	}
	if form.Has("client_secret") {
		methods++
		method = "client_secret_post"
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if form.Has("client_assertion") {
		methods++
		method = "private_key_jwt"
	}
	if methods > 1 {
		oauthError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
		return Client{}, false
	}
	if method == "none" || method == "private_key_jwt" {
		id = form.Get("client_id")
	}
	if method == "private_key_jwt" && id == "" {
		id = assertionSubject(form.Get("client_assertion"))
	}
	if hasBasic && form.Has("client_id") && form.Get("client_id") != id {
		oauthError(w, http.StatusBadRequest, "invalid_request", "client_id does not match the authenticated client")
		return Client{}, false
	}
	c, ok := s.client(id)
	if !ok {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client")
		return Client{}, false
	}
	if c.authMethod() != method {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client must authenticate with "+c.authMethod())
		return Client{}, false
	}
	switch method {
	case "client_secret_basic", "client_secret_post":
		if subtle.ConstantTimeCompare([]byte(secret), []byte(c.Secret)) != 1 {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "wrong client secret")
			return Client{}, false
		}
	case "private_key_jwt":
		if problem := s.checkAssertion(c, form); problem != "" {
			oauthError(w, http.StatusUnauthorized, "invalid_client", problem)
			return Client{}, false
		}
	}
	return c, true
}

// basicAuth reads HTTP Basic credentials, form-decoding both parts as RFC
// 6749 §2.3.1 requires.
func basicAuth(r *http.Request) (id, secret string, ok bool) {
	u, p, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(u)
	secret, err2 := url.QueryUnescape(p)
	if err1 != nil || err2 != nil {
		return "", "", false
	}
	return id, secret, true
}

var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

// checkAssertion verifies a private_key_jwt client assertion (RFC 7523) and
// returns what is wrong with it, or "".
func (s *Server) checkAssertion(c Client, form url.Values) string {
	if form.Get("client_assertion_type") != assertionType {
		return "client_assertion_type must be " + assertionType
	}
	jws, err := jose.ParseSigned(form.Get("client_assertion"), assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return "malformed client assertion"
	}
	kid := jws.Signatures[0].Header.KeyID
	var payload []byte
	for _, k := range c.JWKS.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return "client assertion signature does not verify"
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp float64         `json:"exp"`
		JTI string          `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "malformed client assertion claims"
	}
	now := s.now()
	exp := time.Unix(int64(claims.Exp), 0)
	switch {
	case claims.Iss != c.ID || claims.Sub != c.ID:
		return "client assertion iss and sub must be the client_id"
	case !audienceIncludes(claims.Aud, s.Issuer, s.Issuer+"/token"):
		return "client assertion aud must be the issuer"
	case claims.Exp == 0 || !now.Before(exp):
		return "client assertion expired"
	case claims.JTI == "":
		return "client assertion needs a jti"
	}
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	for j, until := range s.state.assertionJTIs {
		if now.After(until) {
			delete(s.state.assertionJTIs, j)
		}
	}
	key := c.ID + " " + claims.JTI
	if _, seen := s.state.assertionJTIs[key]; seen {
		return "client assertion jti was already used"
	}
	s.state.assertionJTIs[key] = exp
	return ""
}

// audienceIncludes reports whether a JSON aud (string or array) holds one
// of want.
func audienceIncludes(raw json.RawMessage, want ...string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return contains(want, one)
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return slices.ContainsFunc(many, func(a string) bool { return contains(want, a) })
	}
	return false
}

// assertionSubject reads the unverified sub of an assertion, to find the
// client whose keys verify it.
func assertionSubject(assertion string) string {
	jws, err := jose.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims) != nil {
		return ""
	}
	return claims.Sub
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
