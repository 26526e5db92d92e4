package oidctest_test

import (
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

func TestSign(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{SigningAlg: oidctest.ES256})
	hmacKey := strings.Repeat("k", 32)
	tests := []struct {
		name   string
		opts   oidctest.SignOptions
		header map[string]any
		verify func(t testing.TB, tok string)
	}{
		{"default alg", oidctest.SignOptions{}, map[string]any{"alg": "ES256", "kid": "es256-1"},
			func(t testing.TB, tok string) { verifyJWT(t, srv, tok) }},
		{"RS256 with typ", oidctest.SignOptions{Alg: oidctest.RS256, Type: "logout+jwt"}, map[string]any{"alg": "RS256", "typ": "logout+jwt", "kid": "rs256-1"},
			func(t testing.TB, tok string) { verifyJWT(t, srv, tok) }},
		{"EdDSA", oidctest.SignOptions{Alg: oidctest.EdDSA}, map[string]any{"alg": "EdDSA", "kid": "eddsa-1"},
			func(t testing.TB, tok string) { verifyJWT(t, srv, tok) }},
		{"HS256", oidctest.SignOptions{Alg: oidctest.HS256, HMACKey: []byte(hmacKey)}, map[string]any{"alg": "HS256"},
			func(t testing.TB, tok string) { verifyHS256(t, tok, hmacKey) }},
		{"none", oidctest.SignOptions{Alg: oidctest.None}, map[string]any{"alg": "none"},
			func(t testing.TB, tok string) {
				if !strings.HasSuffix(tok, ".") {
					t.Errorf("unsigned token %q has a signature", tok)
				}
			}},
		{"extra header", oidctest.SignOptions{Header: map[string]any{"kid": "other", "crit": []string{"x"}}}, map[string]any{"alg": "ES256", "kid": "other", "crit": []string{"x"}},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := srv.Sign(map[string]any{"sub": "x"}, tt.opts)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			header, claims := decodeJWT(t, tok)
			wantClaims(t, header, tt.header)
			wantClaims(t, claims, map[string]any{"sub": "x"})
			if tt.verify != nil {
				tt.verify(t, tok)
			}
		})
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tests := []struct {
		name   string
		claims map[string]any
		opts   oidctest.SignOptions
		want   string
	}{
		{"HS256 without key", map[string]any{}, oidctest.SignOptions{Alg: oidctest.HS256}, "HS256 needs a client secret"},
		{"unknown alg", map[string]any{}, oidctest.SignOptions{Alg: "PS512"}, `unsupported alg "PS512"`},
		{"unencodable claims", map[string]any{"bad": func() {}}, oidctest.SignOptions{}, "encode claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := srv.Sign(tt.claims, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
