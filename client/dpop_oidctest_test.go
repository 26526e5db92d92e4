package client_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// dpopOnlyID is a client that oidctest serves only with DPoP proofs.
const dpopOnlyID = "dpop-only"

// newDPoPFixture is a provider that wants DPoP nonces, with the clients of
// newFixture and dpopOnlyID.
func newDPoPFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixture(t, oidctest.Config{
		DPoPNonce: true,
		Clients: []oidctest.Client{{
			ID: dpopOnlyID, RedirectURIs: []string{redirectURI}, DPoPBoundAccessTokens: true,
		}},
	})
}

func TestDPoPWithProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   string
		par  bool
	}{
		{"public client", publicID, false},
		{"public client, pushed", publicID, true},
		{"private_key_jwt, pushed", ecJWTID, true},
		{"client_secret_basic", basicID, false},
		{"client that needs DPoP", dpopOnlyID, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newDPoPFixture(t)
			d := newDPoP(t, dpopKey(), "", nil)
			c := f.client(t, tt.id, func(cfg *client.Config) { cfg.DPoP, cfg.UsePAR = d, tt.par })
			_, tok := f.login(t, c)
			if tok.TokenType != "DPoP" {
				t.Fatalf("token type %q", tok.TokenType)
			}
			cnf, _ := jwtClaims(t, tok.AccessToken)["cnf"].(map[string]any)
			if cnf["jkt"] != d.Thumbprint() {
				t.Fatalf("cnf %v, want jkt %s", cnf, d.Thumbprint())
			}
			// The first token (or PAR) request learnt the nonce with one retry.
			first := oidctest.EndpointToken
			if tt.par {
				first = oidctest.EndpointPAR
			}
			if n := len(f.srv.Requests(first)); n != 2 {
				t.Errorf("%d requests to %s, want 2 (one nonce retry)", n, first)
			}
			next, err := c.Refresh(t.Context(), tok.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if next.TokenType != "DPoP" {
				t.Fatalf("refreshed token type %q", next.TokenType)
			}

			// The nonce learnt at the token endpoint serves the userinfo
			// endpoint of the same origin.
			hc := c.HTTPClientFor(c.TokenSource(next))
			userinfo(t, f, hc, 1)
			// Another DPoP with the same key knows no nonce yet: it
			// retries once with the one userinfo hands out.
			fresh := newDPoP(t, dpopKey(), "", nil)
			hc = &http.Client{Transport: &client.Transport{Source: c.TokenSource(next), DPoP: fresh}}
			f.srv.ResetRequests()
			userinfo(t, f, hc, 2)
		})
	}
}

// userinfo calls f's userinfo endpoint with hc and checks that it took
// want requests, the last with the DPoP scheme.
func userinfo(t testing.TB, f *fixture, hc *http.Client, want int) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.Issuer+"/userinfo", nil)
	body, err := get(t, hc, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"sub":"ada"`) {
		t.Fatalf("userinfo %s", body)
	}
	ui := f.srv.Requests(oidctest.EndpointUserinfo)
	if len(ui) != want || !strings.HasPrefix(ui[want-1].Header.Get("Authorization"), "DPoP ") {
		t.Fatalf("%d userinfo requests, want %d with the DPoP scheme", len(ui), want)
	}
}

func TestDPoPCodeBoundToKey(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	d := newDPoP(t, dpopKey(), "", nil)
	other := newDPoP(t, ecKey(), "", nil)
	for _, par := range []bool{false, true} {
		c := f.client(t, publicID, func(cfg *client.Config) { cfg.DPoP, cfg.UsePAR = d, par })
		thief := f.client(t, publicID, func(cfg *client.Config) { cfg.DPoP = other })
		req, err := c.AuthCodeURL(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		code, err := c.ParseResponse(authorize(t, req.URL), req)
		if err != nil {
			t.Fatal(err)
		}
		// The code, the verifier and the client are right; the key is not.
		if _, err := thief.Exchange(t.Context(), code, req); !errors.Is(err, client.ErrInvalidGrant) {
			t.Fatalf("PAR %v: a code redeemed with another key: %v", par, err)
		}
	}
}

func TestDPoPRequiredByProvider(t *testing.T) {
	t.Parallel()
	f := newDPoPFixture(t)
	c := f.client(t, dpopOnlyID, nil)
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.ParseResponse(authorize(t, req.URL), req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exchange(t.Context(), code, req)
	var te *client.TokenError
	if !errors.As(err, &te) || te.Code != "invalid_dpop_proof" {
		t.Fatalf("error %v, want invalid_dpop_proof", err)
	}
	if te.Header.Get("Content-Type") == "" {
		t.Error("TokenError.Header is empty")
	}
}
