package oidctest

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// issueRequest says which tokens to mint for a grant.
type issueRequest struct {
	client Client
	grant  grant
	aud    []string // access token audience (RFC 8707 resources)
	// user marks a grant a user gave: it gets an ID token when openid was
	// asked for, and a refresh token when offline_access was.
	user bool
	// refreshed is the refresh token being redeemed, if any.
	refreshed string
	// jkt binds the access token to a DPoP key (cnf.jkt), and the refresh
	// token too for public clients.
	jkt string
	// act is the RFC 8693 actor of an exchanged token.
	act map[string]any
	// exchange marks an RFC 8693 token exchange response.
	exchange bool
}

const tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// issue mints and records the tokens of a successful token response.
func (s *Server) issue(ir issueRequest) (map[string]any, error) {
	g := ir.grant
	now := s.now()
	at, tokenType, err := s.accessToken(ir, now)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{
		"access_token": at,
		"token_type":   tokenType,
		"expires_in":   int(s.cfg.AccessTokenTTL.Seconds()),
	}
	if ir.exchange {
		resp["issued_token_type"] = tokenTypeAccessToken
	}
	if g.scope != "" {
		resp["scope"] = g.scope
	}
	scopes := strings.Fields(g.scope)
	if ir.user && contains(scopes, "openid") {
		nonce := g.nonce
		if ir.refreshed != "" {
			nonce = "" // OpenID Connect Core §12.2: no new nonce on refresh
		}
		idt, err := s.idToken(ir.client, g, at, nonce, now)
		if err != nil {
			return nil, err
		}
		resp["id_token"] = idt
	}
	switch {
	case ir.refreshed != "" && s.cfg.NoRefreshRotation:
		resp["refresh_token"] = ir.refreshed
	case ir.user && (ir.refreshed != "" || contains(scopes, "offline_access")):
		rt := randomID()
		next := &refreshEntry{grant: g, expires: now.Add(s.cfg.RefreshTokenTTL)}
		if ir.client.authMethod() == "none" {
			// RFC 9449 §5: a public client's refresh token is bound to
			// the key of its proof, and stays bound across rotations (a
			// refresh of a bound token needed a proof of that key).
			next.jkt = ir.jkt
		}
		s.state.mu.Lock()
		if old, ok := s.state.refresh[ir.refreshed]; ok {
			// Rotation keeps the grant's lifetime, and its scope even
			// when this request narrowed it (RFC 6749 §6).
			next.expires, next.scope = old.expires, old.scope
		}
		s.state.refresh[rt] = next
		s.state.mu.Unlock()
		resp["refresh_token"] = rt
	}
	return resp, nil
}

// accessToken mints an RFC 9068 JWT access token, or an opaque one when
// the server or client asks for those, and records it. It returns the
// token and its token_type.
func (s *Server) accessToken(ir issueRequest, now time.Time) (string, string, error) {
	c, g, aud := ir.client, ir.grant, ir.aud
	if len(aud) == 0 {
		aud = []string{s.cfg.DefaultAudience}
		if aud[0] == "" {
			aud[0] = c.ID
		}
	}
	e := &accessEntry{
		grant: g, aud: aud, issued: now, expires: now.Add(s.cfg.AccessTokenTTL),
		jti: randomID(), jkt: ir.jkt, act: ir.act,
		opaque: s.cfg.OpaqueAccessTokens || c.OpaqueAccessTokens,
	}
	e.clientID = c.ID
	tok := randomID() // 256 bits of entropy
	if !e.opaque {
		var err error
		if tok, err = s.signAccessToken(e, c); err != nil {
			return "", "", err
		}
	}
	s.state.mu.Lock()
	s.state.access[tok] = e
	s.state.mu.Unlock()
	return tok, e.tokenType(), nil
}

// accessClaims returns the claims of an access token: those of its JWT,
// and what introspection answers.
func (s *Server) accessClaims(e *accessEntry) map[string]any {
	claims := map[string]any{
		"iss":       s.Issuer,
		"sub":       e.subject,
		"aud":       audClaim(e.aud),
		"client_id": e.clientID,
		"iat":       e.issued.Unix(),
		"nbf":       e.issued.Unix(),
		"exp":       e.expires.Unix(),
		"jti":       e.jti,
	}
	if e.scope != "" {
		claims["scope"] = e.scope
	}
	if !e.authTime.IsZero() {
		claims["auth_time"] = e.authTime.Unix()
	}
	if e.jkt != "" {
		claims["cnf"] = map[string]any{"jkt": e.jkt}
	}
	if e.act != nil {
		claims["act"] = e.act
	}
	return claims
}

// signAccessToken signs the JWT form of e, issued to c.
func (s *Server) signAccessToken(e *accessEntry, c Client) (string, error) {
	alg := s.cfg.SigningAlg
	if alg == HS256 {
		alg = RS256 // a resource server shares no secret with us
	}
	header := map[string]any{"alg": alg, "typ": "at+jwt"}
	f := s.currentFaults()
	return s.signToken(header, s.accessClaims(e), f.AccessTokenHeader, f.AccessTokenClaims, []byte(c.Secret), false)
}

// idToken mints an ID token for g.
func (s *Server) idToken(c Client, g grant, accessToken, nonce string, now time.Time) (string, error) {
	alg := s.cfg.SigningAlg
	claims := map[string]any{
		"iss":       s.Issuer,
		"sub":       g.subject,
		"aud":       c.ID,
		"azp":       c.ID,
		"iat":       now.Unix(),
		"exp":       now.Add(s.cfg.IDTokenTTL).Unix(),
		"auth_time": g.authTime.Unix(),
		"at_hash":   leftHash(alg, accessToken),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if g.sid != "" {
		claims["sid"] = g.sid
	}
	if g.acr != "" {
		claims["acr"] = g.acr
	}
	if u, ok := s.user(g.subject); ok {
		for k, v := range scopedClaims(u, g.scope) {
			claims[k] = v
		}
	}
	f := s.currentFaults()
	header := map[string]any{"alg": alg, "typ": "JWT"}
	tok, err := s.signToken(header, claims, f.IDTokenHeader, f.IDTokenClaims, []byte(c.Secret), f.CorruptIDTokenSignature)
	if err != nil {
		return "", err
	}
	s.state.mu.Lock()
	s.state.idTokens[tok] = c.ID
	s.state.mu.Unlock()
	return tok, nil
}

// signToken applies the header and claim edits, then signs with the key
// of the header's alg (or hmacKey for HS256).
func (s *Server) signToken(header, claims map[string]any, editHeader, editClaims func(map[string]any), hmacKey []byte, corrupt bool) (string, error) {
	if editClaims != nil {
		editClaims(claims)
	}
	alg, _ := header["alg"].(string)
	s.mu.Lock()
	k, ok := s.keys.signer(alg)
	s.mu.Unlock()
	if ok {
		header["kid"] = k.kid
	}
	if editHeader != nil {
		kid := header["kid"]
		editHeader(header)
		if a, _ := header["alg"].(string); a != alg {
			s.mu.Lock()
			k, _ = s.keys.signer(a)
			s.mu.Unlock()
			if header["kid"] == kid { // not set by the edit: name the key that signs
				delete(header, "kid")
				if k.kid != "" {
					header["kid"] = k.kid
				}
			}
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("oidctest: encode claims: %w", err)
	}
	tok, err := signJWS(header, payload, k.key, hmacKey)
	if err != nil || !corrupt {
		return tok, err
	}
	return corruptSignature(tok), nil
}

// corruptSignature flips one bit of a compact JWS signature.
func corruptSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		return tok + "x"
	}
	sig[len(sig)/2] ^= 0x01
	return tok[:i+1] + b64.EncodeToString(sig)
}

func audClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return aud
}

// scopedClaims returns the user's claims released by scope: profile and
// email claims per OpenID Connect Core §5.4.
func scopedClaims(u User, scope string) map[string]any {
	out := map[string]any{}
	for _, sc := range strings.Fields(scope) {
		for _, name := range scopeClaims[sc] {
			if v, ok := u.Claims[name]; ok {
				out[name] = v
			}
		}
	}
	return out
}

var scopeClaims = map[string][]string{
	"profile": {"name", "family_name", "given_name", "middle_name", "nickname",
		"preferred_username", "profile", "picture", "website", "gender",
		"birthdate", "zoneinfo", "locale", "updated_at"},
	"email":   {"email", "email_verified"},
	"address": {"address"},
	"phone":   {"phone_number", "phone_number_verified"},
}

// SignOptions say how Sign signs a token.
type SignOptions struct {
	// Alg is RS256, ES256, EdDSA (the server's active keys), HS256 (with
	// HMACKey) or none. Empty means Config.SigningAlg.
	Alg string
	// Type is the "typ" header, e.g. "JWT", "at+jwt", "logout+jwt".
	Type string
	// Header adds or overrides header fields (kid, crit, …).
	Header map[string]any
	// HMACKey keys HS256.
	HMACKey []byte
}

// Sign signs claims as a compact JWS with the server's keys, for tests that
// need hand-made tokens (logout tokens, attacks on a verifier).
func (s *Server) Sign(claims map[string]any, opts SignOptions) (string, error) {
	alg := opts.Alg
	if alg == "" {
		alg = s.cfg.SigningAlg
	}
	header := map[string]any{"alg": alg}
	if opts.Type != "" {
		header["typ"] = opts.Type
	}
	var edit func(map[string]any)
	if len(opts.Header) > 0 {
		edit = func(h map[string]any) {
			for k, v := range opts.Header {
				h[k] = v
			}
		}
	}
	return s.signToken(header, claims, edit, nil, opts.HMACKey, false)
}
