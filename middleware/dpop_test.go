package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dpopTest is one DPoP request and what Check must say about it.
type dpopTest struct {
	name string
	req  func(t testing.TB, f *fixture, c *dpopClient) *http.Request
	want error // nil: accepted
}

func (tc dpopTest) run(t *testing.T, f *fixture, c *dpopClient) {
	t.Helper()
	claims, err := f.v.Check(tc.req(t, f, c))
	switch {
	case tc.want == nil && err != nil:
		t.Fatalf("Check: %v, want accepted", err)
	case tc.want == nil && (claims == nil || claims.DPoPThumbprint() != c.jkt):
		t.Fatalf("Check accepted with claims %+v", claims)
	case tc.want != nil && !errors.Is(err, tc.want):
		t.Fatalf("Check: %v, want %v", err, tc.want)
	case tc.want != nil && claims != nil:
		t.Fatalf("Check refused with %v but returned claims", err)
	}
}

// withProof is a GET of dpopTarget with a token bound to the client and
// a proof changed by edit.
func withProof(edit func(h, claims map[string]any)) func(testing.TB, *fixture, *dpopClient) *http.Request {
	return func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
		tok := f.boundToken(t, c.jkt)
		return dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, edit))
	}
}

// withRawProof is a GET of dpopTarget with a token bound to the client
// and the proof made by proof from a valid one and the token.
func withRawProof(proof func(t testing.TB, f *fixture, c *dpopClient, tok, good string) string) func(testing.TB, *fixture, *dpopClient) *http.Request {
	return func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
		tok := f.boundToken(t, c.jkt)
		return dpopRequest(http.MethodGet, dpopTarget, tok, proof(t, f, c, tok, c.proofFor(t, f, tok, nil)))
	}
}

// withToken is a GET of dpopTarget with a valid proof for the token made
// by token.
func withToken(token func(t testing.TB, f *fixture, c *dpopClient) string) func(testing.TB, *fixture, *dpopClient) *http.Request {
	return func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
		tok := token(t, f, c)
		return dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))
	}
}

// signedBy is an edit of a proof whose jwk is another's key, signed by
// that key with alg.
func signedBy(other *dpopClient) func(t testing.TB, f *fixture, c *dpopClient, tok, good string) string {
	return func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
		return other.proofFor(t, f, tok, nil)
	}
}

func set(name string, value any) func(h, claims map[string]any) {
	return func(_, claims map[string]any) { claims[name] = value }
}

func unset(name string) func(h, claims map[string]any) {
	return func(_, claims map[string]any) { delete(claims, name) }
}

func setHeader(name string, value any) func(h, claims map[string]any) {
	return func(h, _ map[string]any) {
		if value == nil {
			delete(h, name)
			return
		}
		h[name] = value
	}
}

func TestDPoPAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.DPoP.Algorithms = []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"}
	})
	for _, alg := range []string{"ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			dpopTest{req: withProof(nil)}.run(t, f, newDPoPClient(t, alg))
		})
	}
}

func TestDPoPSchemeCase(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := newDPoPClient(t, "ES256")
	for _, scheme := range []string{"DPoP", "dpop", "DPOP", "  DPoP  "} {
		tok := f.boundToken(t, c.jkt)
		r := dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))
		r.Header.Set("Authorization", scheme+" "+tok)
		if _, err := f.v.Check(r); err != nil {
			t.Errorf("scheme %q: %v", scheme, err)
		}
	}
}

func TestDPoPProofRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := newDPoPClient(t, "ES256")
	rsaClient, edClient := newDPoPClient(t, "RS256"), newDPoPClient(t, "EdDSA")
	p384 := newDPoPClient(t, "ES384")
	now := f.clock.Now().Unix()
	segment := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []dpopTest{
		{name: "valid", req: withProof(nil)},
		// One header, its size and shape.
		{name: "no DPoP header", req: func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			return dpopRequest(http.MethodGet, dpopTarget, f.boundToken(t, c.jkt), "")
		}, want: errNoProof},
		{name: "two DPoP headers", req: func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			tok := f.boundToken(t, c.jkt)
			r := dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))
			r.Header.Add("DPoP", c.proofFor(t, f, tok, nil))
			return r
		}, want: errTwoProofs},
		{name: "over 8 KiB", req: withProof(setHeader("pad", strings.Repeat("a", maxProofBytes))), want: errProofTooLong},
		{name: "two segments", req: withRawProof(func(_ testing.TB, _ *fixture, _ *dpopClient, _, good string) string {
			return good[:strings.LastIndexByte(good, '.')]
		}), want: errProofShape},
		{name: "empty signature", req: withRawProof(func(_ testing.TB, _ *fixture, _ *dpopClient, _, good string) string {
			return good[:strings.LastIndexByte(good, '.')+1]
		}), want: errProofShape},
		{name: "header not JSON", req: withRawProof(func(_ testing.TB, _ *fixture, _ *dpopClient, _, good string) string {
			return segment("dpop") + good[strings.IndexByte(good, '.'):]
		}), want: errProofJSON},
		{name: "payload not JSON", req: withRawProof(func(_ testing.TB, _ *fixture, _ *dpopClient, _, good string) string {
			parts := strings.Split(good, ".")
			return parts[0] + "." + segment("[1]") + "." + parts[2]
		}), want: errProofJSON},
		// Header.
		{name: "typ missing", req: withProof(setHeader("typ", nil)), want: errProofType},
		{name: "typ upper case", req: withProof(setHeader("typ", "DPOP+JWT")), want: errProofType},
		{name: "typ application/dpop+jwt", req: withProof(setHeader("typ", "application/dpop+jwt")), want: errProofType},
		{name: "typ at+jwt", req: withProof(setHeader("typ", "at+jwt")), want: errProofType},
		{name: "Typ is not typ", req: withProof(func(h, _ map[string]any) { delete(h, "typ"); h["Typ"] = "dpop+jwt" }), want: errProofType},
		{name: "alg none", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			h := map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": c.jwk}
			return signJWS(t, "none", nil, h, map[string]any{"jti": "j", "htm": "GET", "htu": dpopHTU, "iat": now, "ath": accessTokenHash(tok)}) + "AAAA"
		}), want: errProofAlg},
		{name: "alg HS256", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			h := map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": c.jwk}
			return signJWS(t, "HS256", nil, h, map[string]any{"jti": "j", "htm": "GET", "htu": dpopHTU, "iat": now, "ath": accessTokenHash(tok)})
		}), want: errProofAlg},
		{name: "alg lower case", req: withProof(setHeader("alg", "es256")), want: errProofAlg},
		{name: "alg not configured", req: withRawProof(signedBy(p384)), want: errProofAlg},
		{name: "crit", req: withProof(setHeader("crit", []string{"exp"})), want: errProofCrit},
		{name: "jwk missing", req: withProof(setHeader("jwk", nil)), want: errJWKMissing},
		{name: "jwk not an object", req: withProof(setHeader("jwk", "key")), want: errJWKMissing},
		{name: "jwk private EC key", req: func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			return withProof(setHeader("jwk", privateJWK(t, c.key)))(t, f, c)
		}, want: errJWKPrivate},
		{name: "jwk with d", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"d": "AQAB"})))
		}), want: errJWKPrivate},
		{name: "jwk with k", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", jwkWith(c.jwk, map[string]any{"k": "c2VjcmV0"})))
		}), want: errJWKPrivate},
		{name: "jwk with only dp", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"dp": "AQAB"})))
		}), want: errJWKPrivate},
		{name: "jwk kty oct", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", map[string]any{"kty": "oct"}))
		}), want: errJWKType},
		{name: "jwk kty lower case", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", jwkWith(c.jwk, map[string]any{"kty": "ec"})))
		}), want: errJWKType},
		{name: "jwk curve secp256k1", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", jwkWith(c.jwk, map[string]any{"crv": "secp256k1"})))
		}), want: errJWKCurve},
		{name: "jwk curve Ed448", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return edClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(edClient.jwk, map[string]any{"crv": "Ed448"})))
		}), want: errJWKCurve},
		{name: "jwk point off the curve", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", jwkWith(c.jwk, map[string]any{"y": c.jwk["x"]})))
		}), want: errJWKPoint},
		{name: "jwk x too short", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", jwkWith(c.jwk, map[string]any{"x": c.jwk["x"].(string)[1:]})))
		}), want: errJWKPoint},
		{name: "jwk Ed25519 x too short", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return edClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(edClient.jwk, map[string]any{"x": base64.RawURLEncoding.EncodeToString(edClient.key.Public().(ed25519.PublicKey)[:31])})))
		}), want: errJWKPoint},
		{name: "jwk Ed25519 x too long", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return edClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(edClient.jwk, map[string]any{"x": edClient.jwk["x"].(string) + "AA"})))
		}), want: errJWKPoint},
		{name: "jwk RSA 1024 bits", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			key, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			return dpopClientWith(t, "RS256", key).proofFor(t, f, tok, nil)
		}), want: errJWKRSA},
		{name: "jwk RSA over 4096 bits", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			n := make([]byte, 4096/8+1)
			n[0] = 1
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"n": base64.RawURLEncoding.EncodeToString(n)})))
		}), want: errJWKRSA},
		{name: "jwk RSA n with a leading zero", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			n := append([]byte{0}, rsaClient.key.Public().(*rsa.PublicKey).N.Bytes()...)
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"n": base64.RawURLEncoding.EncodeToString(n)})))
		}), want: errJWKRSA},
		{name: "jwk RSA exponent 1", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"e": "AQ"})))
		}), want: errJWKRSA},
		{name: "jwk RSA exponent over 2^31", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"e": "gAAAAQ"})))
		}), want: errJWKRSA},
		{name: "jwk RSA exponent of 9 bytes", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			// 2^64 + 3: read into an int, it would wrap to 3.
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"e": "AQAAAAAAAAAD"})))
		}), want: errJWKRSA},
		{name: "jwk RSA even exponent", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return rsaClient.proofFor(t, f, tok, setHeader("jwk", jwkWith(rsaClient.jwk, map[string]any{"e": "AQAC"})))
		}), want: errJWKRSA},
		{name: "jwk RSA for ES256", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", rsaClient.jwk))
		}), want: errProofKeyAlg},
		{name: "jwk Ed25519 for ES256", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", edClient.jwk))
		}), want: errProofKeyAlg},
		{name: "jwk P-384 for ES256", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, setHeader("jwk", p384.jwk))
		}), want: errProofKeyAlg},
		// Signature.
		{name: "signature corrupted", req: withRawProof(func(_ testing.TB, _ *fixture, _ *dpopClient, _, good string) string {
			return corrupt(good, 9)
		}), want: errProofSig},
		{name: "signed by another key", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			thief := dpopClientWith(t, "ES256", key)
			thief.jwk = c.jwk // claims the victim's key
			return thief.proofFor(t, f, tok, nil)
		}), want: errProofSig},
		// Claims.
		{name: "jti missing", req: withProof(unset("jti")), want: errProofJTI},
		{name: "jti empty", req: withProof(set("jti", "")), want: errProofJTI},
		{name: "jti a number", req: withProof(set("jti", 5)), want: errProofJTI},
		{name: "jti of 257 bytes", req: withProof(set("jti", strings.Repeat("j", 257))), want: errProofJTI},
		{name: "jti of 256 bytes", req: withProof(set("jti", strings.Repeat("j", 256)))},
		{name: "htm missing", req: withProof(unset("htm")), want: errProofClaims},
		{name: "htm not a string", req: withProof(set("htm", 1)), want: errProofClaims},
		{name: "htm lower case", req: withProof(set("htm", "get")), want: errProofMethod},
		{name: "htm POST", req: withProof(set("htm", "POST")), want: errProofMethod},
		{name: "htu missing", req: withProof(unset("htu")), want: errProofClaims},
		{name: "htu other path", req: withProof(set("htu", "http://example.com/other")), want: errProofURL},
		{name: "htu path prefix", req: withProof(set("htu", "http://example.com/resource/x")), want: errProofURL},
		{name: "htu other host", req: withProof(set("htu", "http://example.org/resource")), want: errProofURL},
		{name: "htu https", req: withProof(set("htu", "https://example.com/resource")), want: errProofURL},
		{name: "htu with user info", req: withProof(set("htu", "http://u@example.com/resource")), want: errProofURL},
		{name: "htu relative", req: withProof(set("htu", "/resource")), want: errProofURL},
		{name: "iat missing", req: withProof(unset("iat")), want: errProofIAT},
		{name: "iat a string", req: withProof(set("iat", "now")), want: errProofIAT},
		{name: "iat MaxAge ago", req: withProof(set("iat", now-60))},
		{name: "iat older than MaxAge", req: withProof(set("iat", now-61)), want: errProofOld},
		{name: "iat Leeway ahead", req: withProof(set("iat", now+5))},
		{name: "iat beyond Leeway", req: withProof(set("iat", now+6)), want: errProofFuture},
		{name: "ath missing", req: withProof(unset("ath")), want: errProofClaims},
		{name: "ath of another token", req: withProof(set("ath", accessTokenHash("other"))), want: errProofATH},
		{name: "ath padded", req: withRawProof(func(t testing.TB, f *fixture, c *dpopClient, tok, _ string) string {
			return c.proofFor(t, f, tok, set("ath", accessTokenHash(tok)+"="))
		}), want: errProofATH},
		{name: "nonce not a string", req: withProof(set("nonce", 7)), want: errProofClaims},
		{name: "nonce ignored when nonces are off", req: withProof(set("nonce", "n"))},
		// The access token.
		{name: "token without cnf", req: withToken(func(t testing.TB, f *fixture, _ *dpopClient) string {
			return f.token(t, nil)
		}), want: errNotDPoPBound},
		{name: "token with cnf x5t#S256 only", req: withToken(func(t testing.TB, f *fixture, _ *dpopClient) string {
			return f.token(t, func(c map[string]any) {
				c["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
			})
		}), want: errNotDPoPBound},
		{name: "token bound to another key", req: withToken(func(t testing.TB, f *fixture, _ *dpopClient) string {
			return f.boundToken(t, edClient.jkt)
		}), want: errKeyMismatch},
		{name: "token bound to the key in other case", req: withToken(func(t testing.TB, f *fixture, c *dpopClient) string {
			return f.boundToken(t, strings.ToUpper(c.jkt))
		}), want: errKeyMismatch},
		{name: "token expired", req: withToken(func(t testing.TB, f *fixture, c *dpopClient) string {
			return f.token(t, func(m map[string]any) {
				m["cnf"] = map[string]any{"jkt": c.jkt}
				m["exp"] = f.clock.Now().Add(-time.Hour).Unix()
			})
		}), want: ErrExpired},
		{name: "token signature bad", req: withToken(func(t testing.TB, f *fixture, c *dpopClient) string {
			return corrupt(f.boundToken(t, c.jkt), 3)
		}), want: ErrInvalidSignature},
		{name: "empty DPoP credential", req: func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			return dpopRequest(http.MethodGet, dpopTarget, "", c.proofFor(t, f, "", nil))
		}, want: errEmptyDPoP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, f, c)
		})
	}
}

func TestDPoPReplay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c, other := newDPoPClient(t, "ES256"), newDPoPClient(t, "ES256")
	tok := f.boundToken(t, c.jkt)
	proof := c.proofFor(t, f, tok, set("jti", "once"))
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, proof)); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, proof)); !errors.Is(err, errReplayed) {
		t.Fatalf("replay: %v", err)
	}
	again := c.proofFor(t, f, tok, set("jti", "once"))
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, again)); !errors.Is(err, errReplayed) {
		t.Fatalf("new proof, same key and jti: %v", err)
	}
	// Another client may use the same jti: keys are per client key.
	otherTok := f.boundToken(t, other.jkt)
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, otherTok, other.proofFor(t, f, otherTok, set("jti", "once")))); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
}

// TestDPoPTokenCache: the token's signature is checked once, the proof on
// every request; and a bound token in the cache is still refused as a
// bearer token.
func TestDPoPTokenCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := newDPoPClient(t, "ES256")
	tok := f.boundToken(t, c.jkt)
	for i := range 3 {
		if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if hits := f.n.hits.Load(); hits != 2 {
		t.Errorf("%d cache hits, want 2", hits)
	}
	bad := corrupt(c.proofFor(t, f, tok, nil), 5)
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, bad)); !errors.Is(err, errProofSig) {
		t.Errorf("cached token, bad proof: %v", err)
	}
	if _, err := f.v.Check(request(dpopTarget, tok)); !errors.Is(err, errBoundAsBearer) {
		t.Errorf("cached bound token as Bearer: %v", err)
	}
	if _, err := f.v.Verify(t.Context(), tok); !errors.Is(err, ErrSenderConstrained) {
		t.Errorf("cached bound token to Verify: %v", err)
	}
}

func TestDPoPRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.DPoP.Required = true
		c.Cookie = "at"
	})
	c := newDPoPClient(t, "ES256")
	bound, plain := f.boundToken(t, c.jkt), f.token(t, nil)
	cookie := request(dpopTarget, "")
	cookie.AddCookie(&http.Cookie{Name: "at", Value: plain})
	tests := []struct {
		name string
		r    *http.Request
		want error
	}{
		{"DPoP", dpopRequest(http.MethodGet, dpopTarget, bound, c.proofFor(t, f, bound, nil)), nil},
		{"Bearer", request(dpopTarget, plain), errBearerRefused},
		{"Bearer, bound token", request(dpopTarget, bound), errBearerRefused},
		{"cookie", cookie, errBearerRefused},
		{"no token", request(dpopTarget, ""), ErrNoToken},
	}
	for _, tc := range tests {
		if _, err := f.v.Check(tc.r); !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if !errors.Is(errBearerRefused, ErrSenderConstrained) {
		t.Error("errBearerRefused is not ErrSenderConstrained")
	}
}

// TestDPoPBearerUnchanged: without DPoP, a bearer token works as before,
// a DPoP header beside it is ignored, and a bound one is refused.
func TestDPoPBearerUnchanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := newDPoPClient(t, "ES256")
	plain := f.token(t, nil)
	r := request(dpopTarget, plain)
	r.Header.Set("DPoP", "junk")
	if _, err := f.v.Check(r); err != nil {
		t.Errorf("Bearer with a DPoP header: %v", err)
	}
	bound := f.boundToken(t, c.jkt)
	r = request(dpopTarget, bound)
	r.Header.Set("DPoP", c.proofFor(t, f, bound, nil))
	if _, err := f.v.Check(r); !errors.Is(err, ErrSenderConstrained) {
		t.Errorf("bound token as Bearer with a proof: %v", err)
	}
}

func TestDPoPConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dpop DPoPConfig
		want string
	}{
		{"alg none", DPoPConfig{Algorithms: []string{"ES256", "none"}}, `"none" is never accepted`},
		{"alg HS256", DPoPConfig{Algorithms: []string{"HS256"}}, "HMAC"},
		{"alg unknown", DPoPConfig{Algorithms: []string{"es256"}}, "unsupported DPoP algorithm"},
		{"short nonce key", DPoPConfig{NonceKey: make([]byte, 31)}, "at least 32"},
		{"short nonce lifetime", DPoPConfig{NonceKey: make([]byte, 32), NonceLifetime: time.Millisecond}, "under a second"},
		{"negative MaxAge", DPoPConfig{MaxAge: -time.Second}, "MaxAge"},
		{"negative cache size", DPoPConfig{ReplayCacheSize: -1}, "ReplayCacheSize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(t.Context(), Config{Issuer: "https://id.example.com", JWKSURL: "https://id.example.com/jwks", Audiences: []string{testAudience}, DPoP: tc.dpop})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "middleware: ") {
				t.Errorf("New: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestProofKeyThumbprint: the thumbprint computed while parsing a jwk is
// go-jose's RFC 7638 thumbprint, for every key type.
func TestProofKeyThumbprint(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{"ES256", "ES384", "ES512", "RS256", "EdDSA"} {
		c := newDPoPClient(t, alg)
		h := rawToken(t, map[string]any{"jwk": c.jwk}, map[string]any{}, nil)
		text, _ := decodeSegment(h[:strings.IndexByte(h, '.')])
		var m proofHeaderMembers
		readObject(text, m.set)
		key, err := parseProofKey(m.jwk)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if got := base64.RawURLEncoding.EncodeToString(key.thumbprint[:]); got != c.jkt {
			t.Errorf("%s: thumbprint %s, want %s", alg, got, c.jkt)
		}
	}
}
