package oidctest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// TestDPoPProofChecks sends client credentials requests with a proof
// broken in each way the server checks.
func TestDPoPProofChecks(t *testing.T) {
	t.Parallel()
	key := newDPoPKey(t, jose.ES256)
	rsaKey := newDPoPKey(t, jose.RS256)
	other := newDPoPKey(t, jose.ES256)
	p384Key := newDPoPKey(t, jose.ES384)
	edit := func(f func(c map[string]any)) func(t testing.TB, u string, now time.Time) []string {
		return func(t testing.TB, u string, now time.Time) []string {
			c := proofClaims(http.MethodPost, u, now)
			f(c)
			return []string{key.sign(t, c, nil)}
		}
	}
	header := func(f func(h map[string]any)) func(t testing.TB, u string, now time.Time) []string {
		return func(t testing.TB, u string, now time.Time) []string {
			return []string{key.sign(t, proofClaims(http.MethodPost, u, now), f)}
		}
	}
	tests := []struct {
		name  string
		proof func(t testing.TB, u string, now time.Time) []string
		about string // "" for success, else words of the error description
	}{
		{"valid", edit(func(map[string]any) {}), ""},
		{"htu with query and fragment", edit(func(c map[string]any) { c["htu"] = c["htu"].(string) + "?x=1#top" }), ""},
		{"htu scheme in upper case", edit(func(c map[string]any) {
			c["htu"] = strings.Replace(c["htu"].(string), "http://", "HTTP://", 1)
		}), ""},
		{"no typ", header(func(h map[string]any) { delete(h, "typ") }), "typ"},
		{"typ JWT", header(func(h map[string]any) { h["typ"] = "JWT" }), "typ"},
		{"no jwk", header(func(h map[string]any) { delete(h, "jwk") }), "no jwk"},
		{"jwk not an object", header(func(h map[string]any) { h["jwk"] = "key" }), "not a JSON object"},
		{"private jwk", header(func(h map[string]any) { h["jwk"] = jose.JSONWebKey{Key: key.priv} }), "public"},
		{"jwk of another key type", header(func(h map[string]any) { h["jwk"] = rsaKey.publicJWK() }), "not a key for ES256"},
		{"jwk on another curve", header(func(h map[string]any) { h["jwk"] = p384Key.publicJWK() }), "not a key for ES256"},
		{"jwk of another key", header(func(h map[string]any) { h["jwk"] = other.publicJWK() }), "signature"},
		{"bad signature", func(t testing.TB, u string, now time.Time) []string {
			return []string{flipSignature(t, key.proof(t, http.MethodPost, u, now))}
		}, "signature"},
		{"alg none", func(t testing.TB, u string, now time.Time) []string {
			h := map[string]any{"alg": "none", "typ": "dpop+jwt", "jwk": key.publicJWK()}
			return []string{rawProof(t, h, proofClaims(http.MethodPost, u, now), func(string) []byte { return nil })}
		}, `alg "none"`},
		{"alg HS256", func(t testing.TB, u string, now time.Time) []string {
			h := map[string]any{"alg": "HS256", "typ": "dpop+jwt", "jwk": key.publicJWK()}
			return []string{rawProof(t, h, proofClaims(http.MethodPost, u, now), func(in string) []byte {
				mac := hmac.New(sha256.New, []byte("0123456789abcdef0123456789abcdef"))
				mac.Write([]byte(in))
				return mac.Sum(nil)
			})}
		}, `alg "HS256"`},
		{"not a JWS", func(testing.TB, string, time.Time) []string { return []string{"not-a-proof"} }, "compact JWS"},
		{"htm GET", edit(func(c map[string]any) { c["htm"] = http.MethodGet }), "htm"},
		{"htu of another endpoint", edit(func(c map[string]any) {
			c["htu"] = strings.TrimSuffix(c["htu"].(string), "/token") + "/userinfo"
		}), "htu"},
		{"htu of another host", edit(func(c map[string]any) { c["htu"] = "http://localhost:1/token" }), "htu"},
		{"htu https", edit(func(c map[string]any) { c["htu"] = strings.Replace(c["htu"].(string), "http:", "https:", 1) }), "htu"},
		{"htu relative", edit(func(c map[string]any) { c["htu"] = "/token" }), "htu"},
		{"iat in the past", edit(func(c map[string]any) { c["iat"] = c["iat"].(int64) - 61 }), "iat"},
		{"iat in the future", edit(func(c map[string]any) { c["iat"] = c["iat"].(int64) + 61 }), "iat"},
		{"no iat", edit(func(c map[string]any) { delete(c, "iat") }), "iat"},
		{"no jti", edit(func(c map[string]any) { delete(c, "jti") }), "jti"},
		{"empty jti", edit(func(c map[string]any) { c["jti"] = "" }), "jti"},
		{"two DPoP headers", func(t testing.TB, u string, now time.Time) []string {
			return []string{key.proof(t, http.MethodPost, u, now), key.proof(t, http.MethodPost, u, now)}
		}, "more than one"},
		{"larger than 8 KiB", edit(func(c map[string]any) { c["pad"] = strings.Repeat("x", 8<<10) }), "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			proofs := tt.proof(t, srv.Issuer+"/token", clk.Now())
			res := post(t, srv, "/token", both(appAuth, withDPoP(proofs...)), clientCredentialsForm())
			if tt.about != "" {
				wantDPoPError(t, res, "invalid_dpop_proof", tt.about)
				return
			}
			tk := wantTokens(t, res)
			if tk.TokenType != "DPoP" {
				t.Errorf("token_type = %q, want DPoP", tk.TokenType)
			}
			if got, want := cnfJKT(verifyJWT(t, srv, tk.AccessToken)), key.jkt(t); got != want {
				t.Errorf("cnf.jkt = %q, want %q", got, want)
			}
		})
	}
}

func TestDPoPProofAlgorithms(t *testing.T) {
	t.Parallel()
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS256, jose.PS256, jose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			key := newDPoPKey(t, alg)
			proof := key.proof(t, http.MethodPost, srv.Issuer+"/token", time.Now())
			tk := wantTokens(t, post(t, srv, "/token", both(appAuth, withDPoP(proof)), clientCredentialsForm()))
			if got := cnfJKT(verifyJWT(t, srv, tk.AccessToken)); got != key.jkt(t) {
				t.Errorf("cnf.jkt = %q, want %q", got, key.jkt(t))
			}
		})
	}
}

func TestDPoPProofWindow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now, DPoPProofWindow: 10 * time.Second})
	key := newDPoPKey(t, jose.ES256)
	u := srv.Issuer + "/token"
	for _, tt := range []struct {
		age  time.Duration
		good bool
	}{{9 * time.Second, true}, {-9 * time.Second, true}, {11 * time.Second, false}, {-11 * time.Second, false}} {
		res := post(t, srv, "/token", both(appAuth, withDPoP(key.proof(t, http.MethodPost, u, clk.Now().Add(-tt.age)))), clientCredentialsForm())
		if tt.good {
			wantTokens(t, res)
		} else {
			wantDPoPError(t, res, "invalid_dpop_proof", "iat")
		}
	}
}

func TestDPoPProofReplay(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	key, other := newDPoPKey(t, jose.ES256), newDPoPKey(t, jose.ES256)
	claims := proofClaims(http.MethodPost, srv.Issuer+"/token", clk.Now())
	proof := key.sign(t, claims, nil)
	wantTokens(t, post(t, srv, "/token", both(appAuth, withDPoP(proof)), clientCredentialsForm()))
	wantDPoPError(t, post(t, srv, "/token", both(appAuth, withDPoP(proof)), clientCredentialsForm()), "invalid_dpop_proof", "jti")

	// A new proof reusing the jti is a replay too; the same jti from
	// another key is not (jtis are remembered per key).
	claims["iat"] = clk.Now().Unix() + 1
	wantDPoPError(t, post(t, srv, "/token", both(appAuth, withDPoP(key.sign(t, claims, nil))), clientCredentialsForm()), "invalid_dpop_proof", "jti")
	wantTokens(t, post(t, srv, "/token", both(appAuth, withDPoP(other.sign(t, claims, nil))), clientCredentialsForm()))
}

func TestDPoPNonce(t *testing.T) {
	t.Parallel()
	clk := newClock()
	const ttl = time.Minute
	srv := newServer(t, oidctest.Config{Now: clk.Now, DPoPNonce: true, DPoPNonceTTL: ttl})
	key := newDPoPKey(t, jose.ES256)
	u := srv.Issuer + "/token"
	withNonce := func(nonce string) clientAuth {
		c := proofClaims(http.MethodPost, u, clk.Now())
		if nonce != "" {
			c["nonce"] = nonce
		}
		return both(appAuth, withDPoP(key.sign(t, c, nil)))
	}

	// Every token response carries the nonce, even one without a proof.
	res := post(t, srv, "/token", appAuth, clientCredentialsForm())
	wantTokens(t, res)
	nonce := res.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("token response without DPoP-Nonce")
	}

	res = post(t, srv, "/token", withNonce(""), clientCredentialsForm())
	wantDPoPError(t, res, "use_dpop_nonce", "nonce")
	if got := res.header.Get("DPoP-Nonce"); got != nonce {
		t.Errorf("use_dpop_nonce: DPoP-Nonce = %q, want %q", got, nonce)
	}
	wantDPoPError(t, post(t, srv, "/token", withNonce("made-up"), clientCredentialsForm()), "use_dpop_nonce", "stale")

	res = post(t, srv, "/token", withNonce(nonce), clientCredentialsForm())
	if tk := wantTokens(t, res); tk.TokenType != "DPoP" {
		t.Errorf("token_type = %q, want DPoP", tk.TokenType)
	}
	if res.header.Get("DPoP-Nonce") != nonce {
		t.Errorf("DPoP-Nonce changed within its lifetime")
	}

	// After one period the nonce rotates and the previous one still
	// works; after another it is stale.
	clk.Advance(ttl)
	res = post(t, srv, "/token", withNonce(nonce), clientCredentialsForm())
	wantTokens(t, res)
	next := res.header.Get("DPoP-Nonce")
	if next == "" || next == nonce {
		t.Fatalf("DPoP-Nonce after rotation = %q, want a new one", next)
	}
	clk.Advance(ttl)
	res = post(t, srv, "/token", withNonce(nonce), clientCredentialsForm())
	wantDPoPError(t, res, "use_dpop_nonce", "stale")
	current := res.header.Get("DPoP-Nonce")
	wantTokens(t, post(t, srv, "/token", withNonce(current), clientCredentialsForm()))
}

func TestDPoPNonceAtPAR(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{DPoPNonce: true})
	res := post(t, srv, "/par", appAuth, authParams(appID, newPKCE()))
	if res.status != http.StatusCreated || res.header.Get("DPoP-Nonce") == "" {
		t.Errorf("PAR: status %d, DPoP-Nonce %q; want 201 with a nonce", res.status, res.header.Get("DPoP-Nonce"))
	}
	key := newDPoPKey(t, jose.ES256)
	res = post(t, srv, "/par", both(appAuth, withDPoP(key.proof(t, http.MethodPost, srv.Issuer+"/par", time.Now()))), authParams(appID, newPKCE()))
	wantDPoPError(t, res, "use_dpop_nonce", "nonce")

	// Without nonces, no header.
	plain := newServer(t, oidctest.Config{})
	if res := post(t, plain, "/token", appAuth, clientCredentialsForm()); res.header.Get("DPoP-Nonce") != "" {
		t.Errorf("DPoP-Nonce %q without Config.DPoPNonce", res.header.Get("DPoP-Nonce"))
	}
}

func TestDPoPBoundAccessTokensClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{ID: "bound", Secret: "s", DPoPBoundAccessTokens: true}}})
	auth := secretBasic("bound", "s")
	wantDPoPError(t, post(t, srv, "/token", auth, clientCredentialsForm()), "invalid_dpop_proof", "required")
	key := newDPoPKey(t, jose.ES256)
	tk := wantTokens(t, post(t, srv, "/token", both(auth, withDPoP(key.proof(t, http.MethodPost, srv.Issuer+"/token", time.Now()))), clientCredentialsForm()))
	if tk.TokenType != "DPoP" {
		t.Errorf("token_type = %q, want DPoP", tk.TokenType)
	}
}

// TestNoDPoPWithoutProof checks that tokens issued without a proof are
// plain bearer tokens.
func TestNoDPoPWithoutProof(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tk := wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm()))
	if tk.TokenType != "Bearer" {
		t.Errorf("token_type = %q, want Bearer", tk.TokenType)
	}
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), nil, "cnf")
}
