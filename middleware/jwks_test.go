package middleware

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// warm verifies a valid token, which waits for the first key-set fetch.
func warm(t testing.TB, f *fixture) {
	t.Helper()
	if _, err := f.v.Verify(context.Background(), f.token(t, nil)); err != nil {
		t.Fatalf("warm-up Verify: %v", err)
	}
}

func TestJWKSUnknownKIDFlood(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil) // MinRefreshInterval 1 min: budget of one refetch
	warm(t, f)
	before := f.jwksFetches()
	flood := func() {
		tok := f.sign(t, f.claims(), oidctest.SignOptions{Alg: oidctest.EdDSA, Header: map[string]any{"kid": randomString()}})
		if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("Verify with a random kid: %v", err)
		}
	}
	for range 200 {
		flood()
	}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(flood)
	}
	wg.Wait()
	if got := f.jwksFetches() - before; got > 1 {
		t.Errorf("400 unknown kids caused %d fetches, want at most 1", got)
	}
}

func TestJWKSConcurrentUnknownKIDShareOneFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.MinRefreshInterval = time.Hour })
	warm(t, f)
	if err := f.srv.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	tok := f.token(t, nil) // signed with the new key, unknown to the validator
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := f.v.Verify(context.Background(), tok); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
	wg.Wait()
	if got := f.jwksFetches(); got != 2 {
		t.Errorf("%d fetches, want 2 (warm-up and one shared refetch)", got)
	}
}

func TestJWKSBadSignaturesCauseNoFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.MinRefreshInterval = time.Hour })
	warm(t, f)
	before := f.jwksFetches()
	for i := range 100 {
		tok := corrupt(f.token(t, nil), i)
		if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("Verify: %v", err)
		}
	}
	// Keys of the wrong type for the algorithm cause none either.
	for range 20 {
		tok := f.sign(t, f.claims(), oidctest.SignOptions{Header: map[string]any{"kid": "es256-1"}})
		if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("Verify: %v", err)
		}
	}
	if got := f.jwksFetches() - before; got != 0 {
		t.Errorf("bad signatures caused %d fetches", got)
	}
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.MinRefreshInterval = time.Hour })
	old := f.token(t, nil)
	if _, err := f.v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if got := f.jwksFetches(); got != 1 {
		t.Fatalf("%d fetches after warm-up, want 1", got)
	}
	if err := f.srv.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.EdDSA} {
		tok := f.sign(t, f.claims(), oidctest.SignOptions{Alg: alg})
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("%s token with a new kid: %v", alg, err)
		}
	}
	if got := f.jwksFetches(); got != 2 {
		t.Errorf("%d fetches after rotation, want exactly 2", got)
	}
	if _, err := f.v.Verify(context.Background(), f.token(t, nil)); err != nil {
		t.Errorf("token signed before rotation, not cached: %v", err)
	}
}

func TestJWKSProviderDownAfterWarmUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.MinRefreshInterval = 2 * time.Millisecond
		c.MaxRefreshInterval = 5 * time.Millisecond
	})
	warm(t, f)
	for _, fail := range []oidctest.Failure{
		{Status: http.StatusServiceUnavailable, Body: "down"},
		{Status: http.StatusOK, Body: `{"keys":[]}`},
		{Status: http.StatusOK, Body: `{"keys":[{"kty":"XYZ","kid":"rs256-1"}]}`},
		{Status: http.StatusOK, Body: `not json`},
		{Status: http.StatusOK, Body: `{"keys":[` + strings.Repeat(" ", maxFetchBytes) + `]}`},
	} {
		errs := f.n.fetchErrors.Load()
		f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: fail}})
		waitFor(t, "failed refreshes", func() bool { return f.n.fetchErrors.Load() >= errs+2 })
		// A new token (not cached) with a known kid is still accepted.
		if _, err := f.v.Verify(context.Background(), f.token(t, nil)); err != nil {
			t.Fatalf("after failing refreshes (%d %.20q): %v", fail.Status, fail.Body, err)
		}
	}
	if err := f.n.lastErr(); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversize key set: fetch error %v", err)
	}
}

func TestJWKSProviderDownAtStart(t *testing.T) {
	t.Parallel()
	srv := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(srv.Close)
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointDiscovery: {Status: http.StatusBadGateway},
	}})
	start := time.Now()
	f := newFixtureFor(t, srv, func(c *Config) {
		c.MinRefreshInterval = 5 * time.Millisecond
		c.MaxRefreshInterval = 10 * time.Millisecond
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("New took %v with the provider down", d)
	}
	tok := f.token(t, nil)
	h := f.v.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("Verify with the provider down: %v", err)
	}
	if w := serve(h, request("/", tok)); w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "invalid_token") {
		t.Fatalf("request with the provider down: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	srv.SetFaults(oidctest.Faults{})
	waitFor(t, "the provider to come up", func() bool {
		_, err := f.v.Verify(context.Background(), tok)
		return err == nil
	})
	if w := serve(h, request("/", tok)); w.Code != http.StatusOK {
		t.Errorf("request after the provider came up: %d", w.Code)
	}
}

// TestJWKSFailuresBackOff: a failing provider is retried at most every
// MinRefreshInterval, not in a loop.
func TestJWKSFailuresBackOff(t *testing.T) {
	t.Parallel()
	srv := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(srv.Close)
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Status: http.StatusInternalServerError},
	}})
	f := newFixtureFor(t, srv, func(c *Config) { c.MinRefreshInterval = 10 * time.Millisecond })
	time.Sleep(50 * time.Millisecond)
	f.v.Close()
	if n := f.jwksFetches(); n < 2 || n > 7 {
		t.Errorf("%d fetches in 50 ms with retries every 10 ms", n)
	}
}

func TestJWKSSlowProviderDoesNotHoldRequests(t *testing.T) {
	t.Parallel()
	srv := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(srv.Close)
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Delay: time.Minute},
	}})
	f := newFixtureFor(t, srv, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.v.Verify(ctx, f.token(t, nil))
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Verify waited %v", d)
	}
	start = time.Now()
	f.v.Close() // cancels the fetch under way
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close waited %v", d)
	}
}

func TestJWKSUnusableKeysIgnored(t *testing.T) {
	t.Parallel()
	srv := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(srv.Close)
	var set map[string][]any
	raw, _ := json.Marshal(srv.JWKS())
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	set["keys"] = append([]any{
		map[string]any{"kty": "XYZ", "kid": "future"},
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		map[string]any{"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
		map[string]any{"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64u(make([]byte, 32)), "y": b64u(make([]byte, 32))},
		map[string]any{"kty": "OKP", "kid": "x25519", "crv": "X25519", "x": b64u(make([]byte, 32))},
		publicJWK(t, small, "small", "RS256", "sig"),
		"not an object",
	}, set["keys"]...)
	body, _ := json.Marshal(set)
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Status: http.StatusOK, Body: string(body)},
	}})
	f := newFixtureFor(t, srv, nil)
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.EdDSA} {
		if _, err := f.v.Verify(context.Background(), f.sign(t, f.claims(), oidctest.SignOptions{Alg: alg})); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
	}
	for _, kid := range []string{"hmac", "small", "off-curve"} {
		tok := f.sign(t, f.claims(), oidctest.SignOptions{Header: map[string]any{"kid": kid}})
		if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
			t.Errorf("kid %s: %v", kid, err)
		}
	}
}

func TestJWKSOversizeAtStart(t *testing.T) {
	t.Parallel()
	srv := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(srv.Close)
	raw, _ := json.Marshal(srv.JWKS())
	padded := string(raw[:len(raw)-1]) + strings.Repeat(" ", maxFetchBytes) + "}"
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Status: http.StatusOK, Body: padded},
	}})
	f := newFixtureFor(t, srv, nil)
	if _, err := f.v.Verify(context.Background(), f.token(t, nil)); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify with an oversize key set: %v", err)
	}
	if err := f.n.lastErr(); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("fetch error: %v", err)
	}
}

func TestJWKSKeyRemovalFlushesCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.MinRefreshInterval = 2 * time.Millisecond
		c.MaxRefreshInterval = 5 * time.Millisecond
	})
	tok := f.token(t, nil)
	for range 2 {
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if f.n.hits.Load() != 1 {
		t.Fatalf("%d cache hits, want 1", f.n.hits.Load())
	}
	// Refreshes that keep the key keep the cached token.
	fetches := f.n.fetches.Load()
	waitFor(t, "refreshes", func() bool { return f.n.fetches.Load() >= fetches+2 })
	if _, err := f.v.Verify(context.Background(), tok); err != nil || f.n.hits.Load() != 2 {
		t.Fatalf("after refreshes: %v, %d hits", err, f.n.hits.Load())
	}
	if err := f.srv.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	f.srv.RetireKeys()
	waitFor(t, "the cached token to be dropped", func() bool {
		_, err := f.v.Verify(context.Background(), tok)
		return errors.Is(err, ErrUnknownKey)
	})
}

func TestJWKSSeveralIssuers(t *testing.T) {
	t.Parallel()
	a := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(a.Close)
	b := oidctest.NewServer(oidctest.Config{IssuerPath: "/tenant-b"})
	t.Cleanup(b.Close)
	v, err := New(context.Background(), Config{
		Issuer:    a.Issuer,
		Issuers:   []Issuer{{URL: b.Issuer}},
		Audiences: []string{testAudience},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	claims := func(iss string) map[string]any {
		return map[string]any{"iss": iss, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}
	}
	sign := func(srv *oidctest.Server, c map[string]any) string {
		tok, err := srv.Sign(c, oidctest.SignOptions{Alg: oidctest.RS256, Type: "at+jwt"})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, srv := range []*oidctest.Server{a, b} {
		c, err := v.Verify(context.Background(), sign(srv, claims(srv.Issuer)))
		if err != nil || c.Issuer() != srv.Issuer {
			t.Errorf("token of %s: %v", srv.Issuer, err)
		}
	}
	// Both sets have a key "rs256-1": iss picks the set, so b's key cannot
	// sign for a.
	if _, err := v.Verify(context.Background(), sign(b, claims(a.Issuer))); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("a's iss signed by b: %v", err)
	}
	if n := len(a.Requests(oidctest.EndpointJWKS)) + len(b.Requests(oidctest.EndpointJWKS)); n != 2 {
		t.Errorf("%d fetches, want one per issuer", n)
	}
}

func TestJWKSDiscovery(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwks, _ := json.Marshal(map[string]any{"keys": []any{publicJWK(t, key, "k", "RS256", "sig")}})
	var issuer string
	var docIssuer string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server/tenant", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": docIssuer, "jwks_uri": issuer + "/keys"})
	})
	mux.HandleFunc("GET /tenant/keys", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(jwks) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	issuer = srv.URL + "/tenant"

	for _, tc := range []struct {
		name, docIssuer string
		want            error
	}{
		{"RFC 8414 fallback", issuer, nil},
		{"issuer mismatch", issuer + "/", ErrUnknownKey},
	} {
		docIssuer = tc.docIssuer
		n := &counters{}
		v, err := New(context.Background(), Config{Issuer: issuer, Audiences: []string{testAudience}, Hooks: n.hooks()})
		if err != nil {
			t.Fatal(err)
		}
		claims := map[string]any{"iss": issuer, "aud": testAudience, "exp": time.Now().Add(time.Hour).Unix()}
		_, err = v.Verify(context.Background(), signOwn(t, "RS256", key, map[string]any{"kid": "k"}, claims))
		v.Close()
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: Verify: %v, want %v", tc.name, err, tc.want)
		}
		if tc.want != nil {
			if err := n.lastErr(); err == nil || !strings.Contains(err.Error(), "want") {
				t.Errorf("%s: fetch error %v", tc.name, err)
			}
		}
	}
}

func TestJWKSRefreshHonoursCacheControl(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	iss := newOwnIssuer(t)
	iss.setKeys(t, publicJWK(t, key, "k", "RS256", "sig"))
	iss.setHeader("Cache-Control", "public, max-age=86400")
	v, err := New(context.Background(), Config{
		Issuer: iss.URL, JWKSURL: iss.URL, Audiences: []string{testAudience},
		MinRefreshInterval: time.Millisecond, MaxRefreshInterval: 3 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	// A day's max-age is clamped to the 3 ms maximum.
	waitFor(t, "refreshes", func() bool { return iss.requests.Load() >= 4 })

	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Hour},
		{"max-age=600", 10 * time.Minute},
		{"public, MAX-AGE=\"900\"", 15 * time.Minute},
		{"max-age=5", time.Minute},
		{"max-age=999999999999", time.Hour},
		{"max-age=-1", time.Hour},
		{"max-age=x", time.Hour},
		{"no-store", time.Minute},
		{"max-age=600, no-cache", time.Minute},
	}
	for _, tc := range tests {
		if got := refreshAfter(tc.header, time.Minute, time.Hour); got != tc.want {
			t.Errorf("refreshAfter(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestKeySetInstallKeepsIdentity(t *testing.T) {
	t.Parallel()
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	ks := &keySet{logger: discardLogger()}
	ks.keys.Store(&keyMap{})
	a := &verifyKey{kid: "a", alg: "RS256", pub: &k1.PublicKey}
	b := &verifyKey{kid: "b", pub: &k2.PublicKey}
	ks.install([]*verifyKey{a, b})
	// Same a; b replaced by another key under the same kid.
	ks.install([]*verifyKey{
		{kid: "a", alg: "RS256", pub: &rsa.PublicKey{N: k1.N, E: k1.E}},
		{kid: "b", pub: &k1.PublicKey},
	})
	m := ks.keys.Load()
	if m.byKID["a"][0] != a || a.removed.Load() {
		t.Error("an unchanged key lost its identity")
	}
	if m.byKID["b"][0] == b || !b.removed.Load() {
		t.Error("a replaced key was not marked removed")
	}
}

// TestCloseStopsGoroutines is not parallel, so that no other test's
// validators run while the goroutines are counted.
func TestCloseStopsGoroutines(t *testing.T) {
	srv := oidctest.NewServer(oidctest.Config{})
	defer srv.Close()
	for _, fault := range []map[string]oidctest.Failure{
		nil,
		{oidctest.EndpointJWKS: {Status: http.StatusInternalServerError}},
		{oidctest.EndpointJWKS: {Delay: time.Minute}},
	} {
		srv.SetFaults(oidctest.Faults{Endpoints: fault})
		v, err := New(context.Background(), Config{
			Issuer: srv.Issuer, Issuers: []Issuer{{URL: "https://other.example.com", JWKSURL: srv.Issuer + "/jwks"}},
			Audiences: []string{testAudience}, MinRefreshInterval: time.Millisecond, MaxRefreshInterval: time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if ours() == 0 {
			t.Fatal("no key-set goroutines before Close")
		}
		v.Close()
		v.Close() // idempotent
		// Close has waited for them; they may still be returning.
		waitFor(t, "goroutines to end after Close", func() bool { return ours() == 0 })
	}
	// A cancelled New context stops them too.
	ctx, cancel := context.WithCancel(context.Background())
	v, err := New(ctx, Config{Issuer: srv.Issuer, Audiences: []string{testAudience}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	waitFor(t, "goroutines to end after ctx is cancelled", func() bool { return ours() == 0 })
	v.Close()
}

// ours counts the goroutines running key-set code.
func ours() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "middleware.(*keySet)") {
			n++
		}
	}
	return n
}

// TestJWKSRedirectToHTTPRefused: the default client does not follow a
// redirect that downgrades to http on a non-loopback host.
func TestJWKSRedirectToHTTPRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.RedirectHandler("http://192.0.2.1/jwks", http.StatusFound))
	t.Cleanup(srv.Close)
	n := &counters{}
	v, err := New(context.Background(), Config{Issuer: srv.URL, JWKSURL: srv.URL + "/jwks", Audiences: []string{testAudience}, Hooks: n.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	waitFor(t, "the first fetch", func() bool { return n.fetches.Load() > 0 })
	if err := n.lastErr(); err == nil || !strings.Contains(err.Error(), "not https") {
		t.Errorf("fetch error: %v", err)
	}
}
