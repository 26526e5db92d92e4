package oidctest_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// tokenProof is a proof for a token request to srv.
func tokenProof(t testing.TB, srv *oidctest.Server, key dpopKey) clientAuth {
	t.Helper()
	return withDPoP(key.proof(t, http.MethodPost, srv.Issuer+"/token", time.Now()))
}

// TestDPoPBoundRefreshToken checks that a public client's refresh token is
// bound to the key of the proof it was issued with.
func TestDPoPBoundRefreshToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.EdDSA)
	pk := newPKCE()
	code := authCode(t, srv, authParams(spaID, pk))
	tk := wantTokens(t, post(t, srv, "/token", both(spaAuth, tokenProof(t, srv, key)), codeForm(code, pk.verifier)))
	if tk.TokenType != "DPoP" || cnfJKT(verifyJWT(t, srv, tk.AccessToken)) != key.jkt(t) {
		t.Fatalf("token_type %q, cnf.jkt %q; want DPoP bound to the proof's key", tk.TokenType, cnfJKT(verifyJWT(t, srv, tk.AccessToken)))
	}
	if got := cnfJKT(introspect(t, srv, tk.RefreshToken)); got != key.jkt(t) {
		t.Errorf("refresh token cnf.jkt = %q, want %q", got, key.jkt(t))
	}

	rt := tk.RefreshToken
	wantDPoPError(t, post(t, srv, "/token", spaAuth, refreshForm(rt)), "invalid_dpop_proof", "required")
	wantOAuthError(t, post(t, srv, "/token", both(spaAuth, tokenProof(t, srv, other)), refreshForm(rt)), http.StatusBadRequest, "invalid_grant")

	// The refused attempts did not use the token up.
	next := wantTokens(t, post(t, srv, "/token", both(spaAuth, tokenProof(t, srv, key)), refreshForm(rt)))
	if next.TokenType != "DPoP" || cnfJKT(verifyJWT(t, srv, next.AccessToken)) != key.jkt(t) {
		t.Errorf("refreshed: token_type %q, want DPoP bound to the same key", next.TokenType)
	}
	// The rotated refresh token stays bound.
	wantDPoPError(t, post(t, srv, "/token", spaAuth, refreshForm(next.RefreshToken)), "invalid_dpop_proof", "required")
	wantTokens(t, post(t, srv, "/token", both(spaAuth, tokenProof(t, srv, key)), refreshForm(next.RefreshToken)))
}

// TestDPoPConfidentialRefreshNotBound checks that only public clients'
// refresh tokens are bound: a confidential client authenticates anyway.
func TestDPoPConfidentialRefreshNotBound(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	key := newDPoPKey(t, jose.ES256)
	pk := newPKCE()
	code := authCode(t, srv, authParams(appID, pk))
	tk := wantTokens(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, key)), codeForm(code, pk.verifier)))
	if next := wantTokens(t, refresh(t, srv, tk.RefreshToken)); next.TokenType != "Bearer" {
		t.Errorf("refresh without a proof: token_type %q, want Bearer", next.TokenType)
	}
}

func TestDPoPJKTAtAuthorize(t *testing.T) {
	t.Parallel()
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	tests := []struct {
		name  string
		proof func(t testing.TB, srv *oidctest.Server) clientAuth
		code  string // "" for success
	}{
		{"proof with that key", func(t testing.TB, srv *oidctest.Server) clientAuth { return tokenProof(t, srv, key) }, ""},
		{"proof with another key", func(t testing.TB, srv *oidctest.Server) clientAuth { return tokenProof(t, srv, other) }, "invalid_grant"},
		{"no proof", func(testing.TB, *oidctest.Server) clientAuth { return nil }, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			pk := newPKCE()
			params := authParams(appID, pk)
			params.Set("dpop_jkt", key.jkt(t))
			code := authCode(t, srv, params)
			auth := appAuth
			if p := tt.proof(t, srv); p != nil {
				auth = both(appAuth, p)
			}
			res := post(t, srv, "/token", auth, codeForm(code, pk.verifier))
			if tt.code == "" {
				if tk := wantTokens(t, res); tk.TokenType != "DPoP" {
					t.Errorf("token_type = %q, want DPoP", tk.TokenType)
				}
				return
			}
			wantOAuthError(t, res, http.StatusBadRequest, tt.code)
		})
	}
}

func TestDPoPJKTMalformed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	params := authParams(appID, newPKCE())
	params.Set("dpop_jkt", "not-a-thumbprint")
	if q := authorize(t, srv, params); q.Get("error") != "invalid_request" {
		t.Errorf("error = %q, want invalid_request", q.Get("error"))
	}
}

func TestDPoPAtPAR(t *testing.T) {
	t.Parallel()
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	parProof := func(t testing.TB, srv *oidctest.Server, k dpopKey) clientAuth {
		return withDPoP(k.proof(t, http.MethodPost, srv.Issuer+"/par", time.Now()))
	}

	t.Run("proof binds the code", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		pk := newPKCE()
		uri := push(t, srv, both(appAuth, parProof(t, srv, key)), authParams(appID, pk))
		code := authCode(t, srv, parAuthorization(appID, uri))
		wantOAuthError(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, other)), codeForm(code, pk.verifier)), http.StatusBadRequest, "invalid_grant")

		pk = newPKCE()
		uri = push(t, srv, both(appAuth, parProof(t, srv, key)), authParams(appID, pk))
		code = authCode(t, srv, parAuthorization(appID, uri))
		wantTokens(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, key)), codeForm(code, pk.verifier)))
	})
	t.Run("dpop_jkt parameter binds the code", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		pk := newPKCE()
		params := authParams(appID, pk)
		params.Set("dpop_jkt", key.jkt(t))
		code := authCode(t, srv, parAuthorization(appID, push(t, srv, appAuth, params)))
		wantOAuthError(t, post(t, srv, "/token", appAuth, codeForm(code, pk.verifier)), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("dpop_jkt of another key than the proof's", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		params := authParams(appID, newPKCE())
		params.Set("dpop_jkt", other.jkt(t))
		wantDPoPError(t, post(t, srv, "/par", both(appAuth, parProof(t, srv, key)), params), "invalid_dpop_proof", "dpop_jkt")
	})
	t.Run("bad proof", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		wantDPoPError(t, post(t, srv, "/par", both(appAuth, tokenProof(t, srv, key)), authParams(appID, newPKCE())), "invalid_dpop_proof", "htu")
	})
}

// userinfoDPoP calls userinfo with the Authorization header authz and
// the given DPoP proofs.
func userinfoDPoP(t testing.TB, srv *oidctest.Server, authz string, proofs ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.Issuer+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authz)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	res, err := do(srv.Client(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// wantChallenge checks a 401 from userinfo and its WWW-Authenticate error.
func wantChallenge(t testing.TB, res response, scheme, code string) {
	t.Helper()
	if res.status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401; body %s", res.status, res.body)
	}
	want := scheme + ` error="` + code + `"`
	if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, want) {
		t.Errorf("WWW-Authenticate = %q, want %s…", got, want)
	}
}

func TestDPoPAtUserinfo(t *testing.T) {
	t.Parallel()
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	uiProof := func(t testing.TB, srv *oidctest.Server, k dpopKey, tok string) string {
		return k.boundProof(t, http.MethodGet, srv.Issuer+"/userinfo", tok, "", time.Now())
	}
	tests := []struct {
		name    string
		request func(t testing.TB, srv *oidctest.Server, bound, plain string) response
		scheme  string // of the challenge; "" for success
		code    string
	}{
		{"bound token with a proof", func(t testing.TB, srv *oidctest.Server, bound, _ string) response {
			return userinfoDPoP(t, srv, "DPoP "+bound, uiProof(t, srv, key, bound))
		}, "", ""},
		{"bound token as Bearer", func(t testing.TB, srv *oidctest.Server, bound, _ string) response {
			return userinfoDPoP(t, srv, "Bearer "+bound, uiProof(t, srv, key, bound))
		}, "DPoP", "invalid_token"},
		{"bound token without a proof", func(t testing.TB, srv *oidctest.Server, bound, _ string) response {
			return userinfoDPoP(t, srv, "DPoP "+bound)
		}, "DPoP", "invalid_dpop_proof"},
		{"proof of another key", func(t testing.TB, srv *oidctest.Server, bound, _ string) response {
			return userinfoDPoP(t, srv, "DPoP "+bound, uiProof(t, srv, other, bound))
		}, "DPoP", "invalid_dpop_proof"},
		{"proof without ath", func(t testing.TB, srv *oidctest.Server, bound, _ string) response {
			return userinfoDPoP(t, srv, "DPoP "+bound, key.proof(t, http.MethodGet, srv.Issuer+"/userinfo", time.Now()))
		}, "DPoP", "invalid_dpop_proof"},
		{"proof for another token", func(t testing.TB, srv *oidctest.Server, bound, plain string) response {
			return userinfoDPoP(t, srv, "DPoP "+bound, uiProof(t, srv, key, plain))
		}, "DPoP", "invalid_dpop_proof"},
		{"proof for the token endpoint", func(t testing.TB, srv *oidctest.Server, bound, _ string) response {
			return userinfoDPoP(t, srv, "DPoP "+bound, key.boundProof(t, http.MethodGet, srv.Issuer+"/token", bound, "", time.Now()))
		}, "DPoP", "invalid_dpop_proof"},
		{"unbound token with the DPoP scheme", func(t testing.TB, srv *oidctest.Server, _, plain string) response {
			return userinfoDPoP(t, srv, "DPoP "+plain, uiProof(t, srv, key, plain))
		}, "DPoP", "invalid_token"},
		{"unbound token with the DPoP scheme and no proof", func(t testing.TB, srv *oidctest.Server, _, plain string) response {
			return userinfoDPoP(t, srv, "DPoP "+plain)
		}, "DPoP", "invalid_dpop_proof"},
		{"unbound token as Bearer", func(t testing.TB, srv *oidctest.Server, _, plain string) response {
			return userinfoDPoP(t, srv, "Bearer "+plain)
		}, "", ""},
		{"unknown token with a proof", func(t testing.TB, srv *oidctest.Server, _, _ string) response {
			return userinfoDPoP(t, srv, "DPoP nope", uiProof(t, srv, key, "nope"))
		}, "DPoP", "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			pk := newPKCE()
			code := authCode(t, srv, authParams(appID, pk))
			bound := wantTokens(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, key)), codeForm(code, pk.verifier))).AccessToken
			plain := login(t, srv, nil).AccessToken
			res := tt.request(t, srv, bound, plain)
			if tt.scheme == "" {
				if res.status != http.StatusOK || res.json(t)["sub"] != "ada" {
					t.Errorf("status %d: %s; want 200 with sub ada", res.status, res.body)
				}
				return
			}
			wantChallenge(t, res, tt.scheme, tt.code)
		})
	}
}

func TestDPoPNonceAtUserinfo(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{DPoPNonce: true})
	key := newDPoPKey(t, jose.ES256)
	res := post(t, srv, "/token", appAuth, clientCredentialsForm())
	nonce := res.header.Get("DPoP-Nonce")
	pk := newPKCE()
	code := authCode(t, srv, authParams(appID, pk))
	tokenProof := key.boundProof(t, http.MethodPost, srv.Issuer+"/token", "", nonce, time.Now())
	tk := wantTokens(t, post(t, srv, "/token", both(appAuth, withDPoP(tokenProof)), codeForm(code, pk.verifier)))

	u := srv.Issuer + "/userinfo"
	res = userinfoDPoP(t, srv, "DPoP "+tk.AccessToken, key.boundProof(t, http.MethodGet, u, tk.AccessToken, "", time.Now()))
	wantChallenge(t, res, "DPoP", "use_dpop_nonce")
	if res.header.Get("DPoP-Nonce") != nonce {
		t.Errorf("DPoP-Nonce = %q, want %q", res.header.Get("DPoP-Nonce"), nonce)
	}
	res = userinfoDPoP(t, srv, "DPoP "+tk.AccessToken, key.boundProof(t, http.MethodGet, u, tk.AccessToken, nonce, time.Now()))
	if res.status != http.StatusOK {
		t.Errorf("with the nonce: status %d, want 200: %s", res.status, res.header.Get("WWW-Authenticate"))
	}
}
