package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

// sentinels are the errors every refusal must wrap.
var sentinels = []error{
	ErrMalformed, ErrInvalidSignature, ErrUnknownKey, ErrExpired, ErrInvalidClaims,
	ErrInvalidType, ErrSenderConstrained,
}

// FuzzVerify feeds arbitrary strings to Verify, and to Check as the
// Authorization header. It must never panic, must refuse with one of the
// sentinels, and must accept only the tokens the provider signed (the
// fuzzer cannot forge a signature, and one token has one spelling).
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, nil)
	signed := map[string]bool{}
	add := func(tok string) {
		signed[tok] = true
		f.Add(tok)
	}
	add(fx.token(f, nil))
	add(fx.sign(f, fx.claims(), oidctest.SignOptions{Alg: oidctest.ES256}))
	add(fx.sign(f, fx.claims(), oidctest.SignOptions{Alg: oidctest.EdDSA}))
	f.Add(fx.sign(f, fx.claims(), oidctest.SignOptions{Alg: oidctest.None}))
	f.Add(fx.sign(f, fx.claims(), oidctest.SignOptions{Header: map[string]any{"crit": []string{"x"}}}))
	f.Add(fx.sign(f, fx.claims(), oidctest.SignOptions{Type: "JWT"}))
	f.Add(strings.Repeat(".", 100))
	f.Add("e30.e30.e30")

	f.Fuzz(func(t *testing.T, tok string) {
		c, err := fx.v.Verify(context.Background(), tok)
		if err == nil {
			if !signed[tok] {
				t.Fatalf("accepted a token the provider did not sign: %q", tok)
			}
			if c.Issuer() != fx.srv.Issuer {
				t.Fatalf("accepted with issuer %q", c.Issuer())
			}
			return
		}
		if c != nil {
			t.Fatalf("refused (%v) with claims", err)
		}
		if !isSentinel(err) {
			t.Fatalf("refusal without a sentinel: %v", err)
		}
		r := request("/", "")
		r.Header.Set("Authorization", "Bearer "+tok)
		if _, err := fx.v.Check(r); err == nil && !signed[strings.TrimSpace(tok)] {
			t.Fatalf("Check accepted %q", tok)
		}
	})
}

func isSentinel(err error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
