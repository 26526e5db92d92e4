package oidctest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"hash"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// methodAssertion stands for a client assertion before the client is known:
// private_key_jwt or client_secret_jwt, by the client's registration.
const methodAssertion = "client_assertion"

// authenticateClient authenticates the client of a token, PAR, device
// authorization, revocation or introspection request, writing the error
// response when it fails.
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
		method = methodAssertion
	}
	if methods > 1 {
		oauthError(w, http.StatusBadRequest, "invalid_request", "more than one client authentication method")
		return Client{}, false
	}
	if method == "none" || method == methodAssertion {
		id = form.Get("client_id")
	}
	if method == methodAssertion && id == "" {
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
	if method == methodAssertion && (c.authMethod() == "private_key_jwt" || c.authMethod() == "client_secret_jwt") {
		method = c.authMethod()
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
	case "private_key_jwt", "client_secret_jwt":
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

// assertionAlgs are the private_key_jwt algorithms; client_secret_jwt uses
// hmacAlgs. Neither method accepts the other's.
var assertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.EdDSA}

var hmacAlgs = map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}

// checkAssertion verifies a private_key_jwt or client_secret_jwt client
// assertion (RFC 7523) and returns what is wrong with it, or "".
func (s *Server) checkAssertion(c Client, form url.Values) string {
	if form.Get("client_assertion_type") != assertionType {
		return "client_assertion_type must be " + assertionType
	}
	var payload []byte
	var problem string
	if c.authMethod() == "client_secret_jwt" {
		payload, problem = verifyHMACAssertion(form.Get("client_assertion"), []byte(c.Secret))
	} else {
		payload, problem = verifyKeyAssertion(form.Get("client_assertion"), c.JWKS)
	}
	if problem != "" {
		return problem
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

// verifyKeyAssertion checks a private_key_jwt assertion's signature with
// the client's keys and returns its payload, or what is wrong.
func verifyKeyAssertion(assertion string, keys jose.JSONWebKeySet) ([]byte, string) {
	jws, err := jose.ParseSigned(assertion, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "malformed client assertion"
	}
	kid := jws.Signatures[0].Header.KeyID
	for _, k := range keys.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			return p, ""
		}
	}
	return nil, "client assertion signature does not verify"
}

// verifyHMACAssertion checks a client_secret_jwt assertion, an HMAC keyed
// with the client secret, and returns its payload, or what is wrong. It
// accepts secrets shorter than the hash, as many providers do.
func verifyHMACAssertion(assertion string, secret []byte) ([]byte, string) {
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return nil, "malformed client assertion"
	}
	var header struct {
		Alg  string   `json:"alg"`
		Crit []string `json:"crit"`
	}
	raw, err := b64.DecodeString(parts[0])
	if err != nil || json.Unmarshal(raw, &header) != nil {
		return nil, "malformed client assertion header"
	}
	newHash, ok := hmacAlgs[header.Alg]
	switch {
	case !ok:
		return nil, "client_secret_jwt assertions must be signed with HS256, HS384 or HS512"
	case len(header.Crit) > 0:
		return nil, "client assertion has unsupported crit headers"
	}
	sig, err := b64.DecodeString(parts[2])
	mac := hmac.New(newHash, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, "client assertion signature does not verify"
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, "malformed client assertion claims"
	}
	return payload, ""
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
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.Sub
}
