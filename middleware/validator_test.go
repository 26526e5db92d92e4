package middleware

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// verificationTest is one token and what Verify must say about it.
type verificationTest struct {
	name      string
	acceptJWT bool // verify with Config.AcceptJWTType
	token     func(t testing.TB, f *fixture) string
	want      error // nil: accepted
}

func (tc verificationTest) run(t *testing.T, f *fixture) {
	t.Helper()
	tok := tc.token(t, f)
	c, err := f.v.Verify(context.Background(), tok)
	switch {
	case tc.want == nil && err != nil:
		t.Fatalf("Verify: %v, want accepted", err)
	case tc.want == nil && (c == nil || c.Issuer() != f.srv.Issuer):
		t.Fatalf("Verify accepted with claims %+v", c)
	case tc.want != nil && !errors.Is(err, tc.want):
		t.Fatalf("Verify: %v, want %v", err, tc.want)
	case tc.want != nil && c != nil:
		t.Fatalf("Verify refused with %v but returned claims", err)
	}
}

// edit returns a token builder for valid claims changed by fn.
func edit(fn func(f *fixture, c map[string]any)) func(testing.TB, *fixture) string {
	return func(t testing.TB, f *fixture) string {
		c := f.claims()
		fn(f, c)
		return f.sign(t, c, oidctest.SignOptions{})
	}
}

// signed returns a token builder for valid claims signed with opts.
func signed(opts oidctest.SignOptions, fn func(f *fixture, c map[string]any)) func(testing.TB, *fixture) string {
	return func(t testing.TB, f *fixture) string {
		c := f.claims()
		if fn != nil {
			fn(f, c)
		}
		return f.sign(t, c, opts)
	}
}

// unsigned returns a token builder with header h and an arbitrary
// signature (nil sig: empty signature segment).
func unsigned(h map[string]any, sig []byte) func(testing.TB, *fixture) string {
	return func(t testing.TB, f *fixture) string { return rawToken(t, h, f.claims(), sig) }
}

// hmacWithPublicKey signs a valid token with HS256 keyed by a form of the
// server's RSA public key: the algorithm-confusion attack.
func hmacWithPublicKey(form string) func(testing.TB, *fixture) string {
	return func(t testing.TB, f *fixture) string {
		var pub *rsa.PublicKey
		for _, k := range f.srv.JWKS().Keys {
			if k.KeyID == "rs256-1" {
				pub = k.Key.(*rsa.PublicKey)
			}
		}
		pkix, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		var key []byte
		switch form {
		case "PEM":
			key = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix})
		case "PKCS1 PEM":
			key = pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
		case "DER":
			key = pkix
		case "n":
			key = pub.N.Bytes()
		case "JWK n":
			key = []byte(base64.RawURLEncoding.EncodeToString(pub.N.Bytes()))
		}
		opts := oidctest.SignOptions{Alg: oidctest.HS256, HMACKey: key, Header: map[string]any{"kid": "rs256-1"}}
		return f.sign(t, f.claims(), opts)
	}
}

func TestVerifyAttacks(t *testing.T) {
	t.Parallel()
	strict := newFixture(t, nil)
	lenient := newFixture(t, func(c *Config) { c.AcceptJWTType = true })
	kidRS := map[string]any{"kid": "rs256-1"}
	fakeSig := []byte("not a signature at all, but long enough to look like one")

	tests := []verificationTest{
		{name: "valid RS256", token: edit(func(*fixture, map[string]any) {})},
		{name: "valid ES256", token: signed(oidctest.SignOptions{Alg: oidctest.ES256}, nil)},
		{name: "valid EdDSA", token: signed(oidctest.SignOptions{Alg: oidctest.EdDSA}, nil)},

		// alg none, in every spelling, unsigned and with a signature.
		{name: "alg none unsigned", token: unsigned(map[string]any{"alg": "none", "typ": "at+jwt"}, nil), want: ErrMalformed},
		{name: "alg none signed", token: unsigned(map[string]any{"alg": "none", "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrInvalidSignature},
		{name: "alg None", token: unsigned(map[string]any{"alg": "None", "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrInvalidSignature},
		{name: "alg NONE", token: unsigned(map[string]any{"alg": "NONE", "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrInvalidSignature},
		{name: "alg nOnE", token: unsigned(map[string]any{"alg": "nOnE", "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrInvalidSignature},
		{name: "alg nOnE unsigned", token: unsigned(map[string]any{"alg": "nOnE", "typ": "at+jwt"}, nil), want: ErrMalformed},
		{name: "oidctest alg none", token: signed(oidctest.SignOptions{Alg: oidctest.None}, nil), want: ErrMalformed},
		{name: "alg missing", token: unsigned(map[string]any{"typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrMalformed},
		{name: "alg not a string", token: unsigned(map[string]any{"alg": 256, "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrMalformed},
		{name: "alg lower case rs256", token: unsigned(map[string]any{"alg": "rs256", "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrInvalidSignature},
		{name: "alg RS256 with trailing space", token: unsigned(map[string]any{"alg": "RS256 ", "typ": "at+jwt", "kid": "rs256-1"}, fakeSig), want: ErrInvalidSignature},

		// HMAC keyed with the RSA public key (algorithm confusion).
		{name: "HS256 keyed with public key PEM", token: hmacWithPublicKey("PEM"), want: ErrInvalidSignature},
		{name: "HS256 keyed with public key PKCS1 PEM", token: hmacWithPublicKey("PKCS1 PEM"), want: ErrInvalidSignature},
		{name: "HS256 keyed with public key DER", token: hmacWithPublicKey("DER"), want: ErrInvalidSignature},
		{name: "HS256 keyed with modulus", token: hmacWithPublicKey("n"), want: ErrInvalidSignature},
		{name: "HS256 keyed with JWK n", token: hmacWithPublicKey("JWK n"), want: ErrInvalidSignature},

		// Issuer.
		{name: "wrong iss", token: edit(func(f *fixture, c map[string]any) { c["iss"] = "https://evil.example.com" }), want: ErrInvalidIssuer},
		{name: "iss with trailing slash", token: edit(func(f *fixture, c map[string]any) { c["iss"] = f.srv.Issuer + "/" }), want: ErrInvalidIssuer},
		{name: "iss other case", token: edit(func(f *fixture, c map[string]any) { c["iss"] = strings.ToUpper(f.srv.Issuer) }), want: ErrInvalidIssuer},
		{name: "missing iss", token: edit(func(f *fixture, c map[string]any) { delete(c, "iss") }), want: ErrInvalidIssuer},
		{name: "iss not a string", token: edit(func(f *fixture, c map[string]any) { c["iss"] = []string{f.srv.Issuer} }), want: ErrInvalidClaims},

		// Audience.
		{name: "wrong aud", token: edit(func(f *fixture, c map[string]any) { c["aud"] = "https://other.example.com" }), want: ErrInvalidAudience},
		{name: "missing aud", token: edit(func(f *fixture, c map[string]any) { delete(c, "aud") }), want: ErrInvalidAudience},
		{name: "empty aud array", token: edit(func(f *fixture, c map[string]any) { c["aud"] = []string{} }), want: ErrInvalidAudience},
		{name: "aud array without ours", token: edit(func(f *fixture, c map[string]any) { c["aud"] = []string{"a", "b"} }), want: ErrInvalidAudience},
		{name: "aud array with ours", token: edit(func(f *fixture, c map[string]any) { c["aud"] = []string{"a", testAudience} })},
		{name: "aud prefix of ours", token: edit(func(f *fixture, c map[string]any) { c["aud"] = testAudience[:len(testAudience)-1] }), want: ErrInvalidAudience},
		{name: "aud not a string", token: edit(func(f *fixture, c map[string]any) { c["aud"] = 7 }), want: ErrInvalidClaims},

		// Time.
		{name: "missing exp", token: edit(func(f *fixture, c map[string]any) { delete(c, "exp") }), want: ErrInvalidClaims},
		{name: "exp a string", token: edit(func(f *fixture, c map[string]any) { c["exp"] = "4102444800" }), want: ErrInvalidClaims},
		{name: "expired beyond leeway", token: edit(func(f *fixture, c map[string]any) {
			c["exp"] = f.clock.Now().Add(-61 * time.Second).Unix()
		}), want: ErrExpired},
		{name: "expired within leeway", token: edit(func(f *fixture, c map[string]any) {
			c["exp"] = f.clock.Now().Add(-30 * time.Second).Unix()
		})},
		{name: "exp huge", token: edit(func(f *fixture, c map[string]any) { c["exp"] = 1e300 })},
		{name: "exp fractional", token: edit(func(f *fixture, c map[string]any) { c["exp"] = float64(f.clock.Now().Unix()) + 100.5 })},
		{name: "nbf in the future", token: edit(func(f *fixture, c map[string]any) {
			c["nbf"] = f.clock.Now().Add(2 * time.Minute).Unix()
		}), want: ErrInvalidClaims},
		{name: "nbf within leeway", token: edit(func(f *fixture, c map[string]any) {
			c["nbf"] = f.clock.Now().Add(30 * time.Second).Unix()
		})},
		{name: "iat far in the future", token: edit(func(f *fixture, c map[string]any) {
			c["iat"] = f.clock.Now().Add(time.Hour).Unix()
		}), want: ErrInvalidClaims},
		{name: "iat not a number", token: edit(func(f *fixture, c map[string]any) { c["iat"] = "now" }), want: ErrInvalidClaims},

		// Header rules.
		{name: "crit with unknown header", token: signed(oidctest.SignOptions{Header: map[string]any{"crit": []string{"exp"}, "exp": 1}}, nil), want: ErrMalformed},
		{name: "crit b64", token: signed(oidctest.SignOptions{Header: map[string]any{"crit": []string{"b64"}, "b64": false}}, nil), want: ErrMalformed},
		{name: "empty crit", token: signed(oidctest.SignOptions{Header: map[string]any{"crit": []string{}}}, nil), want: ErrMalformed},
		{name: "b64 false", token: signed(oidctest.SignOptions{Header: map[string]any{"b64": false}}, nil), want: ErrMalformed},
		{name: "zip", token: signed(oidctest.SignOptions{Header: map[string]any{"zip": "DEF"}}, nil), want: ErrMalformed},
		{name: "nested JWT", token: signed(oidctest.SignOptions{Header: map[string]any{"cty": "JWT"}}, nil), want: ErrMalformed},
		{name: "kid not a string", token: signed(oidctest.SignOptions{Header: map[string]any{"kid": 1}}, nil), want: ErrMalformed},
		{name: "embedded jwk ignored", token: signed(oidctest.SignOptions{Header: map[string]any{"jwk": map[string]any{"kty": "oct", "k": "AAAA"}, "jku": "https://evil.example.com/jwks"}}, nil)},
		{name: "oversize header segment", token: signed(oidctest.SignOptions{Header: map[string]any{"pad": strings.Repeat("a", 3000)}}, nil), want: ErrMalformed},

		// Keys.
		{name: "kid of EC key with RS256", token: signed(oidctest.SignOptions{Header: map[string]any{"kid": "es256-1"}}, nil), want: ErrInvalidSignature},
		{name: "kid of EdDSA key with RS256", token: signed(oidctest.SignOptions{Header: map[string]any{"kid": "eddsa-1"}}, nil), want: ErrInvalidSignature},
		{name: "kid of RSA key with ES256", token: signed(oidctest.SignOptions{Alg: oidctest.ES256, Header: kidRS}, nil), want: ErrInvalidSignature},
		{name: "unknown kid", token: signed(oidctest.SignOptions{Header: map[string]any{"kid": "no-such-key"}}, nil), want: ErrUnknownKey},
		{name: "no kid", token: signed(oidctest.SignOptions{Header: map[string]any{"kid": nil}}, nil), want: ErrMalformed},
		{name: "signature corrupted", token: func(t testing.TB, f *fixture) string { return corrupt(f.token(t, nil), 85) }, want: ErrInvalidSignature},
		{name: "ES256 signature corrupted", token: func(t testing.TB, f *fixture) string {
			return corrupt(f.sign(t, f.claims(), oidctest.SignOptions{Alg: oidctest.ES256}), 300)
		}, want: ErrInvalidSignature},
		{name: "EdDSA signature corrupted", token: func(t testing.TB, f *fixture) string {
			return corrupt(f.sign(t, f.claims(), oidctest.SignOptions{Alg: oidctest.EdDSA}), 7)
		}, want: ErrInvalidSignature},
		{name: "ES256 signature with zero-padded s", token: func(t testing.TB, f *fixture) string {
			tok := f.sign(t, f.claims(), oidctest.SignOptions{Alg: oidctest.ES256})
			dot := strings.LastIndexByte(tok, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(tok[dot+1:])
			padded := append(append(append([]byte{}, sig[:32]...), 0), sig[32:]...)
			return tok[:dot+1] + base64.RawURLEncoding.EncodeToString(padded)
		}, want: ErrInvalidSignature},
		{name: "ES256 signature truncated", token: func(t testing.TB, f *fixture) string {
			tok := f.sign(t, f.claims(), oidctest.SignOptions{Alg: oidctest.ES256})
			return tok[:len(tok)-2] // 63 bytes
		}, want: ErrInvalidSignature},
		{name: "payload swapped", token: func(t testing.TB, f *fixture) string {
			a, b := strings.Split(f.token(t, nil), "."), strings.Split(f.token(t, func(c map[string]any) { c["scope"] = "admin" }), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}, want: ErrInvalidSignature},
		{name: "signed by another provider with the same kid", token: func(t testing.TB, f *fixture) string {
			other := oidctest.NewServer(oidctest.Config{})
			defer other.Close()
			tok, err := other.Sign(f.claims(), oidctest.SignOptions{Alg: oidctest.RS256, Type: "at+jwt"})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, want: ErrInvalidSignature},

		// Shape.
		{name: "five segments", token: func(t testing.TB, f *fixture) string { return f.token(t, nil) + ".e30.e30" }, want: ErrMalformed},
		{name: "two segments", token: func(t testing.TB, f *fixture) string {
			tok := f.token(t, nil)
			return tok[:strings.LastIndexByte(tok, '.')]
		}, want: ErrMalformed},
		{name: "padding", token: func(t testing.TB, f *fixture) string { return f.token(t, nil) + "==" }, want: ErrMalformed},
		{name: "standard base64 alphabet", token: func(t testing.TB, f *fixture) string { return "a+b/" + f.token(t, nil) }, want: ErrMalformed},
		{name: "space inside", token: func(t testing.TB, f *fixture) string { return f.token(t, nil) + " x" }, want: ErrMalformed},
		{name: "header not JSON", token: func(t testing.TB, f *fixture) string {
			return "bm90IGpzb24." + strings.SplitN(f.token(t, nil), ".", 2)[1]
		}, want: ErrMalformed},
		{name: "payload not an object", token: func(t testing.TB, f *fixture) string {
			p := strings.Split(f.token(t, nil), ".")
			return p[0] + "." + base64.RawURLEncoding.EncodeToString([]byte("[1,2]")) + "." + p[2]
		}, want: ErrMalformed},
		{name: "non-canonical base64 in payload", token: func(t testing.TB, f *fixture) string {
			p := strings.Split(f.token(t, nil), ".")
			// "e30" is {}; "e31" decodes to the same bytes with a nonzero pad bit.
			return p[0] + ".e31." + p[2]
		}, want: ErrMalformed},
		{name: "too long", token: func(t testing.TB, f *fixture) string { return strings.Repeat("a", maxTokenBytes+1) }, want: ErrMalformed},

		// Token type.
		{name: "typ AT+JWT", token: signed(oidctest.SignOptions{Type: "AT+JWT"}, nil)},
		{name: "typ application/at+jwt", token: signed(oidctest.SignOptions{Type: "application/at+jwt"}, nil)},
		{name: "typ Application/AT+JWT", token: signed(oidctest.SignOptions{Type: "Application/AT+JWT"}, nil)},
		{name: "typ with parameter", token: signed(oidctest.SignOptions{Type: "at+jwt; charset=utf-8"}, nil), want: ErrInvalidType},
		{name: "typ other media type", token: signed(oidctest.SignOptions{Type: "text/at+jwt"}, nil), want: ErrInvalidType},
		{name: "typ not a string", token: signed(oidctest.SignOptions{Header: map[string]any{"typ": 1}}, nil), want: ErrMalformed},
		{name: "typ JWT", token: signed(oidctest.SignOptions{Type: "JWT"}, nil), want: ErrInvalidType},
		{name: "typ null", token: signed(oidctest.SignOptions{Header: map[string]any{"typ": nil}}, nil), want: ErrMalformed},
		{name: "typ missing", token: signed(oidctest.SignOptions{Type: noType}, nil), want: ErrInvalidType},
		{name: "typ missing opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: noType}, nil)},
		{name: "ID token without typ opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: noType}, idToken), want: ErrInvalidType},
		{name: "typ JWT opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "JWT"}, nil)},
		{name: "typ application/jwt opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "application/jwt"}, nil)},
		{name: "typ logout+jwt opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "logout+jwt"}, nil), want: ErrInvalidType},
		{name: "typ dpop+jwt opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "dpop+jwt"}, nil), want: ErrInvalidType},
		{name: "typ at+jwt opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{}, nil)},
		{name: "ID token", token: signed(oidctest.SignOptions{Type: "JWT"}, idToken), want: ErrInvalidType},
		{name: "ID token opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "JWT"}, idToken), want: ErrInvalidType},
		{name: "ID token at_hash opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "JWT"}, func(f *fixture, c map[string]any) {
			c["at_hash"] = "x"
		}), want: ErrInvalidType},
		{name: "ID token azp is aud opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "JWT"}, func(f *fixture, c map[string]any) {
			delete(c, "client_id")
			c["azp"] = testAudience
		}), want: ErrInvalidType},
		{name: "access token with azp opt-in", acceptJWT: true, token: signed(oidctest.SignOptions{Type: "JWT"}, func(f *fixture, c map[string]any) {
			delete(c, "client_id")
			c["azp"] = "app"
		})},

		// Sender-constrained.
		{name: "cnf.jkt as bearer", token: edit(func(f *fixture, c map[string]any) {
			c["cnf"] = map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
		}), want: ErrSenderConstrained},
		{name: "cnf x5t#S256 as bearer", token: edit(func(f *fixture, c map[string]any) {
			c["cnf"] = map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
		}), want: ErrSenderConstrained},

		// Claim types.
		{name: "scope not a string", token: edit(func(f *fixture, c map[string]any) { c["scope"] = 1 }), want: ErrInvalidClaims},
		{name: "scope array", token: edit(func(f *fixture, c map[string]any) { c["scope"] = []string{"a", "b"} })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := strict
			if tc.acceptJWT {
				f = lenient
			}
			tc.run(t, f)
		})
	}
}

// TestVerifyKeyConfusionMessage: a kid naming a key of another type is
// refused before any signature check.
func TestVerifyKeyConfusionMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.sign(t, f.claims(), oidctest.SignOptions{Header: map[string]any{"kid": "es256-1"}})
	if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidSignature) || !strings.Contains(err.Error(), "no key") {
		t.Errorf("Verify: %v", err)
	}
}

// idToken makes claims look like an OpenID Connect ID token whose client
// is the API itself.
func idToken(f *fixture, c map[string]any) {
	delete(c, "client_id")
	delete(c, "scope")
	c["nonce"] = "n-0S6_WzA2Mj"
	c["azp"] = testAudience
	c["auth_time"] = f.clock.Now().Unix()
}

// TestVerifyClaims checks what an accepted token's claims say.
func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := f.claims()
	c["aud"] = []string{"x", testAudience}
	c["org"] = map[string]any{"id": 12345678901234567}
	c["exp"] = float64(f.clock.Now().Unix()) + 100.25
	tok := f.sign(t, c, oidctest.SignOptions{})
	got, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject() != "ada" || got.ClientID() != "app" || got.Issuer() != f.srv.Issuer || got.ID() != c["jti"] {
		t.Errorf("sub, client_id, iss, jti = %q, %q, %q, %q", got.Subject(), got.ClientID(), got.Issuer(), got.ID())
	}
	if s := got.Scopes(); strings.Join(s, ",") != "read,write" || !got.HasScope("write") || got.HasScope("wri") {
		t.Errorf("Scopes = %q", s)
	}
	if a := got.Audience(); len(a) != 2 || a[1] != testAudience {
		t.Errorf("Audience = %q", a)
	}
	if want := f.clock.Now().Add(100*time.Second + 250*time.Millisecond); !got.Expiry().Equal(want) {
		t.Errorf("Expiry = %v, want %v", got.Expiry(), want)
	}
	if !got.IssuedAt().Equal(f.clock.Now()) || !got.NotBefore().Equal(f.clock.Now()) {
		t.Errorf("IssuedAt, NotBefore = %v, %v", got.IssuedAt(), got.NotBefore())
	}
	var custom struct {
		Org struct {
			ID int64 `json:"id"`
		} `json:"org"`
	}
	if err := got.Decode(&custom); err != nil || custom.Org.ID != 12345678901234567 {
		t.Errorf("Decode = %v, %+v", err, custom)
	}
	if v, ok := got.Get("org"); !ok || v.(map[string]any)["id"] == nil {
		t.Errorf("Get(org) = %v, %v", v, ok)
	}
	// Callers cannot change cached claims through the accessors.
	got.Scopes()[0] = "admin"
	got.Audience()[0] = "evil"
	again, _ := f.v.Verify(context.Background(), tok)
	if again.HasScope("admin") || again.Audience()[0] != "x" {
		t.Error("claims were modified through an accessor")
	}
}

func TestVerifyScp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.token(t, func(c map[string]any) {
		delete(c, "scope")
		c["scp"] = []string{"a", "b"}
		delete(c, "client_id")
		c["azp"] = "spa"
	})
	c, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.HasScope("b") || c.ClientID() != "spa" {
		t.Errorf("scopes %q, client %q", c.Scopes(), c.ClientID())
	}
	none, err := f.v.Verify(context.Background(), f.token(t, func(c map[string]any) { delete(c, "scope") }))
	if err != nil || none.Scopes() == nil || len(none.Scopes()) != 0 {
		t.Errorf("no scope: %v, %#v", err, none.Scopes())
	}
}

// TestVerifyOwnKeys covers algorithms and key shapes oidctest does not
// make: RS384/512, PS256/384/512, ES384/512, and JWK alg and use rules.
func TestVerifyOwnKeys(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	iss := newOwnIssuer(t)
	iss.setKeys(t,
		publicJWK(t, rsaKey, "rsa-any", "", ""),
		publicJWK(t, rsaKey, "rsa-ps256", "PS256", "sig"),
		publicJWK(t, rsaKey, "rsa-enc", "RSA-OAEP", "enc"),
		publicJWK(t, rsaSmall, "rsa-small", "RS256", "sig"),
		publicJWK(t, ec384, "ec384", "ES384", "sig"),
		publicJWK(t, ec521, "ec521", "", "sig"),
		publicJWK(t, ed, "ed", "EdDSA", ""),
		map[string]any{"kty": "RSA", "kid": "rsa-keyops", "key_ops": []string{"encrypt"}, "n": b64u(rsaKey.N.Bytes()), "e": "AQAB"},
	)
	v, err := New(context.Background(), Config{
		Issuer:     iss.URL,
		JWKSURL:    iss.URL + "/jwks",
		Audiences:  []string{testAudience},
		Algorithms: []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "ES512", "EdDSA"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	claims := map[string]any{"iss": iss.URL, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}
	tests := []struct {
		alg, kid string
		key      crypto.Signer
		want     error
	}{
		{"RS256", "rsa-any", rsaKey, nil},
		{"RS384", "rsa-any", rsaKey, nil},
		{"RS512", "rsa-any", rsaKey, nil},
		{"PS256", "rsa-any", rsaKey, nil},
		{"PS384", "rsa-any", rsaKey, nil},
		{"PS512", "rsa-any", rsaKey, nil},
		{"PS256", "rsa-ps256", rsaKey, nil},
		{"RS256", "rsa-ps256", rsaKey, ErrInvalidSignature}, // JWK alg says PS256
		{"RS256", "rsa-enc", rsaKey, ErrUnknownKey},         // use enc: not a signing key
		{"RS256", "rsa-keyops", rsaKey, ErrUnknownKey},      // key_ops without verify
		{"RS256", "rsa-small", rsaSmall, ErrUnknownKey},     // 1024 bits
		{"ES384", "ec384", ec384, nil},
		{"ES512", "ec521", ec521, nil},
		{"ES512", "ec384", ec384, ErrInvalidSignature}, // curve does not fit
		{"EdDSA", "ed", ed, nil},
		{"ES256", "ec384", ec384, ErrInvalidSignature}, // ES256 not configured
	}
	for _, tc := range tests {
		t.Run(tc.alg+" "+tc.kid, func(t *testing.T) {
			if tc.alg == "ES256" {
				// ES256 is not allowed here: build the token by hand.
				tok := rawToken(t, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": tc.kid}, claims, make([]byte, 64))
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, tc.want) {
					t.Fatalf("Verify: %v, want %v", err, tc.want)
				}
				return
			}
			tok := signOwn(t, tc.alg, tc.key, map[string]any{"kid": tc.kid}, claims)
			_, err := v.Verify(context.Background(), tok)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// TestAlgorithmFits: each algorithm takes only keys of its type and curve.
func TestAlgorithmFits(t *testing.T) {
	t.Parallel()
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	keys := map[string]crypto.PublicKey{
		"RSA": &rsaKey.PublicKey, "P-256": &p256.PublicKey, "P-384": &p384.PublicKey,
		"P-521": &p521.PublicKey, "Ed25519": edPub, "HMAC": []byte("secret"),
	}
	fits := map[string]string{
		"RS256": "RSA", "RS384": "RSA", "RS512": "RSA", "PS256": "RSA", "PS384": "RSA", "PS512": "RSA",
		"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "EdDSA": "Ed25519",
	}
	for _, a := range algorithms {
		for name, k := range keys {
			if got, want := a.fits(k), fits[a.name] == name; got != want {
				t.Errorf("%s fits %s key: %v", a.name, name, got)
			}
		}
	}
}

// TestVerifyWithoutKID: a token without kid is tried with every key that
// fits its algorithm.
func TestVerifyWithoutKID(t *testing.T) {
	t.Parallel()
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss := newOwnIssuer(t)
	iss.setKeys(t, publicJWK(t, k1, "", "", ""), publicJWK(t, k2, "two", "RS256", "sig"))
	v, err := New(context.Background(), Config{Issuer: iss.URL, JWKSURL: iss.URL, Audiences: []string{testAudience}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	claims := map[string]any{"iss": iss.URL, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}
	for _, k := range []*rsa.PrivateKey{k1, k2} {
		if _, err := v.Verify(context.Background(), signOwn(t, "RS256", k, nil, claims)); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if _, err := v.Verify(context.Background(), signOwn(t, "RS256", other, nil, claims)); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("Verify with a foreign key: %v", err)
	}
}

// TestVerifyAllowlist: an algorithm the provider signs with but the
// configuration does not allow is refused.
func TestVerifyAllowlist(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.Algorithms = []string{"ES256"} })
	if _, err := f.v.Verify(context.Background(), f.token(t, nil)); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("RS256 with ES256 allowed: %v", err)
	}
	if _, err := f.v.Verify(context.Background(), f.sign(t, f.claims(), oidctest.SignOptions{Alg: oidctest.ES256})); err != nil {
		t.Errorf("ES256: %v", err)
	}
}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	good := Config{Issuer: "https://id.example.com", Audiences: []string{"api"}}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }, "Issuer is required"},
		{"JWKS URL without issuer", func(c *Config) { c.Issuer, c.JWKSURL = "", "https://id.example.com/jwks" }, "without Config.Issuer"},
		{"http issuer", func(c *Config) { c.Issuer = "http://id.example.com" }, "loopback"},
		{"relative issuer", func(c *Config) { c.Issuer = "id.example.com" }, "absolute"},
		{"issuer with query", func(c *Config) { c.Issuer = "https://id.example.com?x=1" }, "query"},
		{"http JWKS", func(c *Config) { c.JWKSURL = "http://id.example.com/jwks" }, "loopback"},
		{"duplicate issuer", func(c *Config) { c.Issuers = []Issuer{{URL: c.Issuer}} }, "twice"},
		{"no audience", func(c *Config) { c.Audiences = nil }, "Audiences is required"},
		{"empty audience", func(c *Config) { c.Audiences = []string{""} }, "empty audience"},
		{"none", func(c *Config) { c.Algorithms = []string{"none"} }, `"none" is never accepted`},
		{"NONE", func(c *Config) { c.Algorithms = []string{"RS256", "NONE"} }, "never accepted"},
		{"HS256", func(c *Config) { c.Algorithms = []string{"HS256"} }, "HMAC"},
		{"hs512", func(c *Config) { c.Algorithms = []string{"hs512"} }, "HMAC"},
		{"lower-case alg", func(c *Config) { c.Algorithms = []string{"rs256"} }, "case-sensitive"},
		{"unknown alg", func(c *Config) { c.Algorithms = []string{"ES256K"} }, "unsupported"},
		{"bad optional pattern", func(c *Config) { c.OptionalPatterns = []string{"GET /{"} }, "OptionalPatterns"},
		{"refresh bounds", func(c *Config) { c.MinRefreshInterval, c.MaxRefreshInterval = time.Hour, time.Minute }, "exceeds"},
		{"metadata resource", func(c *Config) { c.ResourceMetadata = &ResourceMetadata{Resource: "http://api.example.com"} }, "Resource"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			tc.edit(&cfg)
			v, err := New(context.Background(), cfg)
			if err == nil {
				v.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "middleware: ") {
				t.Errorf("New: %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestVerifyJunkAllocatesNothing: junk is refused before anything is
// split or decoded, whatever its size. Not parallel: AllocsPerRun.
func TestVerifyJunkAllocatesNothing(t *testing.T) {
	f := newFixture(t, nil)
	junk := map[string]string{
		"1 MB of dots":          strings.Repeat(".", 1<<20),
		"1 MB of base64":        strings.Repeat("eyJh", 1<<18),
		"16 KB of base64":       strings.Repeat("A", maxTokenBytes),
		"16 KB of dots":         strings.Repeat(".", maxTokenBytes),
		"dots and base64":       strings.Repeat("a.", maxTokenBytes/2),
		"oversize header":       strings.Repeat("a", maxHeaderBytes+1) + ".b.c",
		"two segments":          "abc.def",
		"four segments":         "a.b.c.d",
		"empty signature":       "a.b.",
		"empty header":          ".b.c",
		"json inside":           `{"alg":"none"}.e30.x`,
		"multi-byte characters": "é.é.é",
	}
	for name, tok := range junk {
		r := request("/", tok)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := f.v.Check(r); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s: %v", name, err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Check", name, allocs)
		}
	}
}

func TestVerifyHooks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.token(t, nil)
	for range 3 {
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = f.v.Verify(context.Background(), "x")
	if got := f.n.verified.Load(); got != 4 {
		t.Errorf("Verified called %d times, want 4", got)
	}
	if got := f.n.hits.Load(); got != 2 {
		t.Errorf("%d cache hits, want 2", got)
	}
	if got := f.n.fetches.Load(); got != 1 {
		t.Errorf("JWKSFetched called %d times, want 1", got)
	}
}
