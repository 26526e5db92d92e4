package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DPoP (RFC 9449) proof checking for the token, PAR and userinfo
// endpoints.

const (
	dpopMaxProofBytes = 8 << 10 // cap on one DPoP header
	maxDPoPJTIs       = 10000   // cap on remembered proof jtis
	dpopType          = "dpop+jwt"
	es384             = "ES384"
	ps256             = "PS256"
)

// dpopAlgs are the proof algorithms the server accepts and advertises.
var dpopAlgs = []string{ES256, es384, RS256, ps256, EdDSA}

// Error codes of refused proofs.
const (
	errInvalidDPoPProof = "invalid_dpop_proof"
	errUseDPoPNonce     = "use_dpop_nonce"
)

// dpopError is a refused DPoP proof.
type dpopError struct {
	code        string // errInvalidDPoPProof or errUseDPoPNonce
	description string
}

func badProof(format string, args ...any) *dpopError {
	return &dpopError{code: errInvalidDPoPProof, description: fmt.Sprintf(format, args...)}
}

// dpopProof is a proof whose signature verified, with its claims.
type dpopProof struct {
	jkt    string // RFC 7638 SHA-256 thumbprint of the key, base64url
	claims struct {
		JTI   string   `json:"jti"`
		HTM   string   `json:"htm"`
		HTU   string   `json:"htu"`
		IAT   *float64 `json:"iat"`
		ATH   string   `json:"ath"`
		Nonce string   `json:"nonce"`
	}
}

// checkDPoP checks the DPoP proof of r, if it has one, for the endpoint
// at endpointURL; with accessToken set the proof must also carry its
// hash (ath). It returns the thumbprint of the proof's key, or "" and a
// nil error when r has no proof.
func (s *Server) checkDPoP(r *http.Request, endpointURL, accessToken string) (string, *dpopError) {
	values := r.Header.Values("DPoP")
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", badProof("more than one DPoP header")
	case len(values[0]) > dpopMaxProofBytes:
		return "", badProof("DPoP proof is larger than %d bytes", dpopMaxProofBytes)
	}
	p, derr := parseProof(values[0])
	if derr != nil {
		return "", derr
	}
	now := s.now()
	if derr := s.checkProofClaims(p, r.Method, endpointURL, accessToken, now); derr != nil {
		return "", derr
	}
	if derr := s.checkProofNonce(p.claims.Nonce); derr != nil {
		return "", derr
	}
	iat := time.Unix(int64(*p.claims.IAT), 0)
	if derr := s.rememberProof(p.jkt, p.claims.JTI, iat.Add(s.cfg.DPoPProofWindow), now); derr != nil {
		return "", derr
	}
	return p.jkt, nil
}

// parseProof checks a proof's form, header, key and signature.
func parseProof(proof string) (*dpopProof, *dpopError) {
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		return nil, badProof("DPoP proof is not a compact JWS")
	}
	raw, err := b64.DecodeString(parts[0])
	var header struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}
	if err != nil || json.Unmarshal(raw, &header) != nil {
		return nil, badProof("malformed DPoP proof header")
	}
	switch {
	case header.Typ != dpopType:
		return nil, badProof("DPoP proof typ must be %s", dpopType)
	case !contains(dpopAlgs, header.Alg):
		return nil, badProof("DPoP proof alg %q is not allowed", header.Alg)
	case len(header.JWK) == 0:
		return nil, badProof("DPoP proof has no jwk header")
	}
	key, derr := proofKey(header.JWK, header.Alg)
	if derr != nil {
		return nil, derr
	}
	jws, err := jose.ParseSigned(proof, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(header.Alg)})
	if err != nil {
		return nil, badProof("malformed DPoP proof")
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return nil, badProof("DPoP proof signature does not verify")
	}
	p := &dpopProof{}
	if err := json.Unmarshal(payload, &p.claims); err != nil {
		return nil, badProof("malformed DPoP proof claims")
	}
	sum, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, badProof("DPoP proof key has no thumbprint")
	}
	p.jkt = b64.EncodeToString(sum)
	return p, nil
}

// privateJWKMembers are JWK members only private (or symmetric) keys have.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// proofKey reads the jwk header of a proof: a public key of a type alg
// uses.
func proofKey(raw json.RawMessage, alg string) (*jose.JSONWebKey, *dpopError) {
	var members map[string]json.RawMessage
	if json.Unmarshal(raw, &members) != nil {
		return nil, badProof("DPoP proof jwk is not a JSON object")
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return nil, badProof("DPoP proof jwk must be a public key (has %q)", m)
		}
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(raw); err != nil {
		return nil, badProof("malformed DPoP proof jwk")
	}
	if !keyFitsAlg(key.Key, alg) {
		return nil, badProof("DPoP proof jwk is not a key for %s", alg)
	}
	return &key, nil
}

// keyFitsAlg reports whether k is a public key of the type and size alg
// needs.
func keyFitsAlg(k any, alg string) bool {
	switch key := k.(type) {
	case *ecdsa.PublicKey:
		return alg == ES256 && key.Curve == elliptic.P256() || alg == es384 && key.Curve == elliptic.P384()
	case *rsa.PublicKey:
		return (alg == RS256 || alg == ps256) && key.N.BitLen() >= 2048
	case ed25519.PublicKey:
		return alg == EdDSA
	}
	return false
}

// checkProofClaims checks jti, htm, htu, iat and ath.
func (s *Server) checkProofClaims(p *dpopProof, method, endpointURL, accessToken string, now time.Time) *dpopError {
	c := p.claims
	window := s.cfg.DPoPProofWindow
	switch {
	case c.JTI == "":
		return badProof("DPoP proof needs a jti")
	case c.HTM != method:
		return badProof("DPoP proof htm %q is not the request method %s", c.HTM, method)
	case !sameHTU(c.HTU, endpointURL):
		return badProof("DPoP proof htu %q is not %s", c.HTU, endpointURL)
	case c.IAT == nil:
		return badProof("DPoP proof needs an iat")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if iat.Before(now.Add(-window)) || iat.After(now.Add(window)) {
		return badProof("DPoP proof iat is more than %v from the server's time", window)
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if c.ATH != b64.EncodeToString(sum[:]) {
			return badProof("DPoP proof ath does not match the access token")
		}
	}
	return nil
}

// sameHTU compares an htu claim with the endpoint's URL by scheme, host
// and path, ignoring query and fragment (RFC 9449 §4.3).
func sameHTU(htu, endpointURL string) bool {
	u, err := url.Parse(htu)
	if err != nil || !u.IsAbs() {
		return false
	}
	want, err := url.Parse(endpointURL)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Scheme, want.Scheme) &&
		strings.EqualFold(normalHost(u), normalHost(want)) &&
		normalPath(u) == normalPath(want)
}

func normalHost(u *url.URL) string {
	host, port := u.Hostname(), u.Port()
	if port == "" || port == "80" && strings.EqualFold(u.Scheme, "http") || port == "443" && strings.EqualFold(u.Scheme, "https") {
		return host
	}
	return host + ":" + port
}

func normalPath(u *url.URL) string {
	if p := u.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// rememberProof records a proof's jti for its key until until, and
// refuses a jti seen before. The cache is bounded: expired entries go
// when it is full, and a full cache of live entries refuses new proofs.
func (s *Server) rememberProof(jkt, jti string, until, now time.Time) *dpopError {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	key := jkt + " " + jti
	if prev, seen := s.state.dpopJTIs[key]; seen && now.Before(prev) {
		return badProof("DPoP proof jti was already used")
	}
	if len(s.state.dpopJTIs) >= maxDPoPJTIs {
		for k, t := range s.state.dpopJTIs {
			if !now.Before(t) {
				delete(s.state.dpopJTIs, k)
			}
		}
		if len(s.state.dpopJTIs) >= maxDPoPJTIs {
			return badProof("too many recent DPoP proofs; try again later")
		}
	}
	s.state.dpopJTIs[key] = until
	return nil
}

// nonceState is the server's DPoP nonce: the current one and the one it
// replaced, both accepted.
type nonceState struct {
	current, previous string
	since             time.Time // when current was made
}

// dpopNonces returns the accepted nonces, rotating them when the current
// one is older than DPoPNonceTTL.
func (s *Server) dpopNonces() (current, previous string) {
	now := s.now()
	ttl := s.cfg.DPoPNonceTTL
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	n := &s.state.dpopNonce
	switch age := now.Sub(n.since); {
	case n.current == "" || age >= 2*ttl:
		n.current, n.previous, n.since = randomID(), "", now
	case age >= ttl:
		n.current, n.previous, n.since = randomID(), n.current, now
	}
	return n.current, n.previous
}

// checkProofNonce checks a proof's nonce when nonces are on.
func (s *Server) checkProofNonce(nonce string) *dpopError {
	if !s.cfg.DPoPNonce {
		return nil
	}
	current, previous := s.dpopNonces()
	switch {
	case nonce == "":
		return &dpopError{code: errUseDPoPNonce, description: "DPoP proof needs the server's nonce"}
	case nonce != current && nonce != previous:
		return &dpopError{code: errUseDPoPNonce, description: "DPoP proof nonce is stale"}
	}
	return nil
}

// setDPoPNonce adds the current nonce to a response when nonces are on.
func (s *Server) setDPoPNonce(w http.ResponseWriter) {
	if s.cfg.DPoPNonce {
		current, _ := s.dpopNonces()
		w.Header().Set("DPoP-Nonce", current)
	}
}

// dpopTokenError answers a token or PAR request whose proof was refused.
func dpopTokenError(w http.ResponseWriter, e *dpopError) {
	oauthError(w, http.StatusBadRequest, e.code, e.description)
}

// dpopChallenge answers a resource request (userinfo) with a DPoP
// WWW-Authenticate challenge.
func (s *Server) dpopChallenge(w http.ResponseWriter, code, description string) {
	s.setDPoPNonce(w)
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error="%s", error_description="%s", algs="%s"`,
		code, quoteEscaper.Replace(description), strings.Join(dpopAlgs, " ")))
	w.WriteHeader(http.StatusUnauthorized)
}

// quoteEscaper escapes text for an HTTP quoted-string.
var quoteEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)
