package middleware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// The target of the requests of the DPoP tests, and the htu of proofs
// made for them: httptest.NewRequest's host, without TLS.
const (
	dpopTarget = "/resource"
	dpopHTU    = "http://example.com/resource"
)

// dpopClient is a client holding a proof key: it makes proofs, and its
// jkt is what tokens are bound to.
type dpopClient struct {
	alg string
	key crypto.Signer
	jwk map[string]any // the public JWK, as go-jose writes it
	jkt string         // its RFC 7638 thumbprint, as go-jose computes it
}

// newDPoPClient makes a client with a fresh key for alg.
func newDPoPClient(t testing.TB, alg string) *dpopClient {
	t.Helper()
	var key crypto.Signer
	var err error
	switch alg {
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "PS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("newDPoPClient: alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dpopClientWith(t, alg, key)
}

// dpopClientWith is a client signing with key.
func dpopClientWith(t testing.TB, alg string, key crypto.Signer) *dpopClient {
	t.Helper()
	pub := jose.JSONWebKey{Key: key.Public()}
	raw, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(raw, &jwk); err != nil {
		t.Fatal(err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopClient{alg: alg, key: key, jwk: jwk, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// accessTokenHash is the ath of token.
func accessTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// proofFor returns a valid proof for a GET of dpopHTU with token at the
// fixture's time, changed by edit (which may delete members; nil: none).
func (c *dpopClient) proofFor(t testing.TB, f *fixture, token string, edit func(h, claims map[string]any)) string {
	t.Helper()
	h := map[string]any{"typ": "dpop+jwt", "alg": c.alg, "jwk": c.jwk}
	claims := map[string]any{
		"jti": randomString(),
		"htm": http.MethodGet,
		"htu": dpopHTU,
		"iat": f.clock.Now().Unix(),
		"ath": accessTokenHash(token),
	}
	if edit != nil {
		edit(h, claims)
	}
	return signJWS(t, c.alg, c.key, h, claims)
}

// signJWS makes a compact JWS of header and claims signed with key as alg
// (the header's own alg may say otherwise). An alg of none leaves the
// signature empty; HS256 signs with the key "secret".
func signJWS(t testing.TB, alg string, key crypto.Signer, header, claims map[string]any) string {
	t.Helper()
	tok := rawToken(t, header, claims, nil)
	input := tok[:len(tok)-1]
	switch alg {
	case "none":
		return input + "."
	case "HS256":
		mac := hmac.New(sha256.New, []byte("secret"))
		mac.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
	a := lookupAlgorithm(alg)
	if a == nil {
		t.Fatalf("signJWS: alg %s", alg)
	}
	var sig []byte
	var err error
	switch a.kind {
	case kindEd25519:
		sig, err = key.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	case kindRSA:
		sig, err = key.Sign(rand.Reader, digest(a.hash, input), a.hash)
	case kindPSS:
		sig, err = key.Sign(rand.Reader, digest(a.hash, input), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash})
	case kindECDSA:
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, key.(*ecdsa.PrivateKey), digest(a.hash, input))
		size := (a.curve.Params().BitSize + 7) / 8
		sig = make([]byte, 2*size)
		if err == nil {
			r.FillBytes(sig[:size])
			s.FillBytes(sig[size:])
		}
	}
	if err != nil {
		t.Fatalf("signJWS: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// boundToken is a valid access token of the fixture bound to jkt.
func (f *fixture) boundToken(t testing.TB, jkt string) string {
	t.Helper()
	return f.token(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": jkt} })
}

// dpopRequest is a request with "Authorization: DPoP token" and, when
// proof is not empty, a DPoP header.
func dpopRequest(method, target, token, proof string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Header.Set("Authorization", "DPoP "+token)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return r
}

// jwkWith returns a copy of jwk with members set (a nil value deletes).
func jwkWith(jwk map[string]any, members map[string]any) map[string]any {
	out := make(map[string]any, len(jwk)+len(members))
	for k, v := range jwk {
		out[k] = v
	}
	for k, v := range members {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// privateJWK is the full JWK of key, private members included.
func privateJWK(t testing.TB, key crypto.Signer) map[string]any {
	t.Helper()
	raw, err := jose.JSONWebKey{Key: key}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var jwk map[string]any
	if err := json.Unmarshal(raw, &jwk); err != nil {
		t.Fatal(err)
	}
	return jwk
}
