package oidctest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func newDPoPKey(t testing.TB, alg jose.SignatureAlgorithm) dpopKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no DPoP key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dpopKey{alg: alg, priv: priv}
}

func (k dpopKey) publicJWK() jose.JSONWebKey { return jose.JSONWebKey{Key: k.priv.Public()} }

// jkt is the RFC 7638 thumbprint of the key, base64url.
func (k dpopKey) jkt(t testing.TB) string {
	t.Helper()
	jwk := k.publicJWK()
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// proofClaims are the claims of a valid proof for method and u at now.
func proofClaims(method, u string, now time.Time) map[string]any {
	return map[string]any{
		"jti": oauth2.GenerateVerifier(),
		"htm": method,
		"htu": u,
		"iat": now.Unix(),
	}
}

// sign makes a DPoP proof of claims with go-jose. The header has typ
// dpop+jwt and the public jwk; editHeader may change them.
func (k dpopKey) sign(t testing.TB, claims map[string]any, editHeader func(h map[string]any)) string {
	t.Helper()
	header := map[string]any{"typ": "dpop+jwt", "jwk": k.publicJWK()}
	if editHeader != nil {
		editHeader(header)
	}
	extra := make(map[jose.HeaderKey]any, len(header))
	for name, v := range header {
		extra[jose.HeaderKey(name)] = v
	}
	return signCompact(t, jose.SigningKey{Algorithm: k.alg, Key: k.priv}, &jose.SignerOptions{ExtraHeaders: extra}, claims)
}

// proof makes a valid proof for method and u at now.
func (k dpopKey) proof(t testing.TB, method, u string, now time.Time) string {
	t.Helper()
	return k.sign(t, proofClaims(method, u, now), nil)
}

// boundProof makes a valid proof for a resource request with accessToken
// (ath), and nonce when not empty.
func (k dpopKey) boundProof(t testing.TB, method, u, accessToken, nonce string, now time.Time) string {
	t.Helper()
	claims := proofClaims(method, u, now)
	claims["ath"] = ath(accessToken)
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return k.sign(t, claims, nil)
}

func ath(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// rawProof assembles a compact JWS from header and claims with signature
// sig, for algorithms go-jose will not sign with (none, or HS256 with a
// short key).
func rawProof(t testing.TB, header, claims map[string]any, sig func(input string) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sig(input))
}

// withDPoP adds a DPoP header to a request; it composes with clientAuth.
func withDPoP(proofs ...string) clientAuth {
	return func(h http.Header, _ url.Values) {
		for _, p := range proofs {
			h.Add("DPoP", p)
		}
	}
}

// flipSignature changes one bit of a compact JWS signature.
func flipSignature(t testing.TB, tok string) string {
	t.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("signature of %q: %v", tok, err)
	}
	sig[0] ^= 0x01
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// cnfJKT reads cnf.jkt from claims.
func cnfJKT(claims map[string]any) string {
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// wantDPoPError checks a refused DPoP proof at the token or PAR endpoint,
// and that the description mentions about.
func wantDPoPError(t testing.TB, res response, code, about string) {
	t.Helper()
	wantOAuthError(t, res, http.StatusBadRequest, code)
	if desc, _ := res.json(t)["error_description"].(string); !strings.Contains(desc, about) {
		t.Errorf("error_description = %q, want it to mention %q", desc, about)
	}
}
