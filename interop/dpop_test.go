package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/middleware"
)

// These tests bind tokens to a key with DPoP (RFC 9449): Keyway's client
// proves possession at oidc-provider's token endpoint, which issues JWT
// access tokens with cnf.jkt, and examples/api (Keyway's middleware) takes
// them only with a fresh proof of that key for that request.

func TestDPoPClientCredentials(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	api := newExampleAPI(t)
	api.start(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	dpop := newDPoP(t)
	rec := &recorder{}
	c := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret", DPoP: dpop, HTTPClient: rec.client()})
	tok, err := c.ClientCredentials(ctx, client.Resource(api.Audience), client.Scopes("api:read"))
	if err != nil {
		t.Fatal(err)
	}
	_, claims := decodeJWT(t, tok.AccessToken)
	if !strings.EqualFold(tok.Type(), "DPoP") || cnfJKT(claims) != dpop.Thumbprint() {
		t.Fatalf("token_type %q, cnf %v; want DPoP bound to jkt %q", tok.Type(), claims["cnf"], dpop.Thumbprint())
	}
	// oidc-provider, as configured here, requires no DPoP nonce (it offers
	// one in DPoP-Nonce): one token request, with a proof, answered 200.
	// dpopnonce_test.go has a provider that requires them.
	seen := rec.exchanges()
	if len(seen) != 1 || seen[0].Header.Get("DPoP") == "" || seen[0].Status != http.StatusOK {
		t.Errorf("token requests %+v; want one with a DPoP proof, answered 200", seen)
	}

	hc := c.HTTPClientFor(c.TokenSource(tok))
	if status, me, _ := callMe(t, hc, api.URL+"/me"); status != http.StatusOK || me.ClientID != "service" {
		t.Errorf("GET /me through HTTPClientFor: %d %+v, want 200 for client service", status, me)
	}

	proof := func(method, target, token string) string {
		t.Helper()
		s, err := dpop.Proof(method, target, token)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	otherKey := newDPoP(t)
	otherProof, err := otherKey.Proof(http.MethodGet, api.URL+"/me", tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	me := api.URL + "/me"
	for _, tt := range []struct {
		name          string
		authorization string
		proof         string // "" for no DPoP header
		scheme, code  string // the challenge carrying the error
	}{
		{"as a bearer token", "Bearer " + tok.AccessToken, "", "Bearer", "invalid_token"},
		{"as a bearer token with a proof", "Bearer " + tok.AccessToken, proof(http.MethodGet, me, tok.AccessToken), "Bearer", "invalid_token"},
		{"without a proof", "DPoP " + tok.AccessToken, "", "DPoP", "invalid_dpop_proof"},
		{"proof for another URL", "DPoP " + tok.AccessToken, proof(http.MethodGet, api.URL+"/admin", tok.AccessToken), "DPoP", "invalid_dpop_proof"},
		{"proof for another method", "DPoP " + tok.AccessToken, proof(http.MethodPost, me, tok.AccessToken), "DPoP", "invalid_dpop_proof"},
		{"proof for another token", "DPoP " + tok.AccessToken, proof(http.MethodGet, me, "another-token"), "DPoP", "invalid_dpop_proof"},
		{"proof by another key", "DPoP " + tok.AccessToken, otherProof, "DPoP", "invalid_token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Authorization": {tt.authorization}}
			if tt.proof != "" {
				h.Set("DPoP", tt.proof)
			}
			requireChallenge(t, api.send(t, "/me", h), tt.scheme, tt.code)
		})
	}

	t.Run("replayed proof", func(t *testing.T) {
		h := http.Header{"Authorization": {"DPoP " + tok.AccessToken}, "DPoP": {proof(http.MethodGet, me, tok.AccessToken)}}
		if r := api.send(t, "/me", h); r.Status != http.StatusOK {
			t.Fatalf("first use of a proof: status %d: %s", r.Status, snippet(r.Body))
		}
		requireChallenge(t, api.send(t, "/me", h), "DPoP", "invalid_dpop_proof")
	})

	t.Run("resource server nonce", func(t *testing.T) {
		// A resource server that requires nonces (Keyway's middleware with
		// a NonceKey): the client's transport retries once with the nonce.
		const audience = "urn:keyway:nonce-api"
		v, err := middleware.New(ctx, middleware.Config{
			Issuer:    p.Issuer,
			Audiences: []string{audience},
			DPoP:      middleware.DPoPConfig{NonceKey: []byte(rand.Text() + rand.Text())},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		srv := httptest.NewServer(v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"sub":"service","client_id":"service"}`))
		})))
		t.Cleanup(srv.Close)

		nonceTok, err := c.ClientCredentials(ctx, client.Resource(audience))
		if err != nil {
			t.Fatal(err)
		}
		before := len(rec.exchanges())
		hc := c.HTTPClientFor(c.TokenSource(nonceTok))
		if status, _, _ := callMe(t, hc, srv.URL+"/me"); status != http.StatusOK {
			t.Fatalf("GET /me at a server requiring nonces: status %d, want 200 after one retry", status)
		}
		calls := rec.exchanges()[before:]
		if len(calls) != 2 || calls[0].Status != http.StatusUnauthorized || calls[0].RespHeader.Get("DPoP-Nonce") == "" ||
			calls[1].Status != http.StatusOK {
			t.Fatalf("calls %+v; want 401 with a DPoP-Nonce, then 200", calls)
		}
		_, first := decodeJWT(t, calls[0].Header.Get("DPoP"))
		_, retry := decodeJWT(t, calls[1].Header.Get("DPoP"))
		if first["nonce"] != nil || retry["nonce"] != calls[0].RespHeader.Get("DPoP-Nonce") {
			t.Errorf("proof nonces %v then %v; want none, then the server's %q", first["nonce"], retry["nonce"], calls[0].RespHeader.Get("DPoP-Nonce"))
		}
	})
}

// TestDPoPLoopbackLogin logs in with the public client cli through Keyway's
// LoopbackLogin with DPoP: the authorization request carries dpop_jkt, which
// oidc-provider binds the code to, and the tokens are bound to the key.
func TestDPoPLoopbackLogin(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	api := newExampleAPI(t)
	api.start(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	dpop := newDPoP(t)
	c := newClient(t, p, client.Config{ClientID: "cli", Scopes: []string{"openid"}, DPoP: dpop})
	tok, authURL := loopbackLogin(t, p, c, "ada", client.Resource(api.Audience))
	if got := authURL.Query().Get("dpop_jkt"); got != dpop.Thumbprint() {
		t.Errorf("authorization request dpop_jkt = %q, want %q", got, dpop.Thumbprint())
	}
	_, claims := decodeJWT(t, tok.AccessToken)
	if !strings.EqualFold(tok.Type(), "DPoP") || cnfJKT(claims) != dpop.Thumbprint() || claims["aud"] != api.Audience {
		t.Fatalf("token_type %q, claims %v; want DPoP, bound to jkt %q, for %q", tok.Type(), claims, dpop.Thumbprint(), api.Audience)
	}
	hc := c.HTTPClientFor(c.TokenSource(tok))
	if status, me, _ := callMe(t, hc, api.URL+"/me"); status != http.StatusOK || me.Sub != "ada" || me.ClientID != "cli" {
		t.Errorf("GET /me through HTTPClientFor: %d %+v, want 200 for ada and client cli", status, me)
	}

	t.Run("code bound to the key", func(t *testing.T) {
		// A code whose request named this key, redeemed with a proof of
		// another key (a stolen code): the provider refuses it.
		// The same exchange with the right key succeeds.
		thief := newClient(t, p, client.Config{ClientID: "cli", Scopes: []string{"openid"}, DPoP: newDPoP(t)})
		for _, tt := range []struct {
			name      string
			redeemer  *client.Client
			wantError bool
		}{
			{"the key of the request", c, false},
			{"another key", thief, true},
		} {
			req, err := c.AuthCodeURL(ctx, client.RedirectURL(unusedCallback(t)))
			if err != nil {
				t.Fatal(err)
			}
			code, err := c.ParseResponse(p.login(t, nil, req.URL, "ada").Query(), req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = tt.redeemer.Exchange(ctx, code, req)
			if got := errors.Is(err, client.ErrInvalidGrant); got != tt.wantError || (err != nil && !got) {
				t.Errorf("Exchange with %s = %v, want invalid_grant %t", tt.name, err, tt.wantError)
			}
		}
	})
}

// newDPoP returns a DPoP with a new P-256 key (ES256).
func newDPoP(t testing.TB) *client.DPoP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := client.NewDPoP(key, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// loopbackLogin runs c.LoopbackLogin with opts, signs username in on the
// provider's pages where its Open would send the browser, delivers the
// redirect to the loopback listener, and returns the tokens and the
// authorization URL.
func loopbackLogin(t testing.TB, p *provider, c *client.Client, username string, opts ...client.AuthOption) (*client.Token, *url.URL) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	type result struct {
		tok *client.Token
		err error
	}
	urls := make(chan string, 1)
	done := make(chan result, 1)
	go func() {
		tok, err := c.LoopbackLogin(ctx, client.LoopbackConfig{
			Options: opts,
			Open:    func(authURL string) error { urls <- authURL; return nil },
		})
		done <- result{tok, err}
	}()
	var authURL string
	select {
	case authURL = <-urls:
	case r := <-done:
		t.Fatalf("LoopbackLogin ended before opening the browser: %v", r.err)
	}
	status, page := getPage(t, p.login(t, nil, authURL, username).String())
	r := <-done // LoopbackLogin ends by ctx at the latest
	if r.err != nil {
		t.Fatalf("LoopbackLogin: %v", r.err)
	}
	if status != http.StatusOK {
		t.Errorf("GET the loopback callback: status %d: %s", status, pageText(page))
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	return r.tok, u
}

// send requests path at the API with header.
func (a *exampleAPI) send(t testing.TB, path string, header http.Header) apiResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := noRedirects(nil).Do(req)
	if err != nil {
		t.Fatalf("interop: GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		t.Fatalf("interop: GET %s: %v", path, err)
	}
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// requireChallenge checks that r is a 401 whose challenge of scheme carries
// error code.
func requireChallenge(t testing.TB, r apiResponse, scheme, code string) {
	t.Helper()
	challenges, err := client.ParseChallenges(r.Header.Values("WWW-Authenticate"))
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", r.Header.Values("WWW-Authenticate"), err)
	}
	for _, c := range challenges {
		if strings.EqualFold(c.Scheme, scheme) && c.Param("error") == code && r.Status == http.StatusUnauthorized {
			return
		}
	}
	t.Errorf("status %d, WWW-Authenticate %q; want 401 with error=%q in the %s challenge", r.Status, r.Header.Values("WWW-Authenticate"), code, scheme)
}
