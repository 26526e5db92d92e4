package rp_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// newClockedApp returns an app whose RP runs on a settable clock; the
// provider keeps real time.
func newClockedApp(t testing.TB, c appConfig) (*testApp, *clock) {
	t.Helper()
	clk := newClock()
	edit := c.edit
	c.edit = func(cfg *rp.Config) {
		cfg.Now = clk.Now
		if edit != nil {
			edit(cfg)
		}
	}
	return newApp(t, c), clk
}

func (a *testApp) jwksFetches() int { return a.count(oidctest.EndpointJWKS) }

// TestJWKSKeyRotation rotates the provider's keys after a first login: the
// next login, signed with a new kid, makes the RP fetch the JWKS once more.
func TestJWKSKeyRotation(t *testing.T) {
	t.Parallel()
	a, clk := newClockedApp(t, appConfig{})
	a.login(t, a.browser, "/")
	if n := a.jwksFetches(); n != 1 {
		t.Fatalf("JWKS fetches after the first login = %d, want 1", n)
	}
	if err := a.op.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	a.op.RetireKeys()
	clk.Advance(11 * time.Second)
	a.login(t, newBrowser(t), "/")
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches after the rotation = %d, want 2", n)
	}
	a.login(t, newBrowser(t), "/")
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches after a third login = %d, want still 2", n)
	}
}

// TestJWKSRefetchRateLimit sends ID tokens with unknown kids: they cause at
// most one JWKS fetch per 10 seconds, even when they arrive together.
func TestJWKSRefetchRateLimit(t *testing.T) {
	t.Parallel()
	a, clk := newClockedApp(t, appConfig{})
	a.login(t, a.browser, "/") // the first fetch
	var kid atomic.Int64
	a.op.SetFaults(oidctest.Faults{IDTokenHeader: func(h map[string]any) {
		h["kid"] = fmt.Sprintf("unknown-%d", kid.Add(1))
	}})

	// One after the other, within 10 s of the first fetch: no fetch.
	for range 5 {
		b := newBrowser(t)
		a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, rp.ErrInvalidSignature)
	}
	if n := a.jwksFetches(); n != 1 {
		t.Fatalf("JWKS fetches = %d after unknown kids within 10 s, want 1", n)
	}

	// Together, once 10 s have passed: one fetch for all of them.
	clk.Advance(11 * time.Second)
	const burst = 20
	var cbs []string
	var browsers []*browser
	for range burst {
		b := newBrowser(t)
		browsers = append(browsers, b)
		cbs = append(cbs, a.callbackURL(t, b, "/"))
	}
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() {
			resp, err := browsers[i].noFollow.Get(cbs[i])
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("callback %d: %d, want 400", i, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches = %d after a burst of %d unknown kids, want 2", n, burst)
	}

	// And none again within the next 10 s.
	clk.Advance(5 * time.Second)
	b := newBrowser(t)
	a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, rp.ErrInvalidSignature)
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", n)
	}
}

// TestJWKSNoRefetchOnBadSignature: a token whose kid is known but whose
// signature is wrong must not make the RP fetch the JWKS again.
func TestJWKSNoRefetchOnBadSignature(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		header func(map[string]any)
	}{
		{"known kid", nil},
		{"no kid", func(h map[string]any) { delete(h, "kid") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, clk := newClockedApp(t, appConfig{})
			a.login(t, a.browser, "/")
			clk.Advance(time.Minute) // a fetch would be allowed
			a.op.SetFaults(oidctest.Faults{CorruptIDTokenSignature: true, IDTokenHeader: tt.header})
			b := newBrowser(t)
			a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, rp.ErrInvalidSignature)
			if n := a.jwksFetches(); n != 1 {
				t.Fatalf("JWKS fetches = %d after a bad signature, want 1", n)
			}
		})
	}
}

// TestJWKSUnusableKeys serves a JWKS with keys the RP cannot or must not
// use (an unknown kty, a symmetric key, a broken key, not a key at all)
// before the provider's own: the set stays usable.
func TestJWKSUnusableKeys(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	set, err := json.Marshal(a.op.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(set, &doc); err != nil {
		t.Fatal(err)
	}
	doc.Keys = append([]json.RawMessage{
		json.RawMessage(`{"kty":"XYZ","kid":"future","alg":"XYZ1"}`),
		json.RawMessage(`{"kty":"oct","kid":"oct","k":"c2VjcmV0"}`),
		json.RawMessage(`{"kty":"RSA","kid":"broken","n":"AQ","e":"!!"}`),
		json.RawMessage(`"not an object"`),
	}, doc.Keys...)
	body, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Status: http.StatusOK, Body: string(body)},
	}})
	a.login(t, a.browser, "/")
	a.whoami(t, a.browser)
	if n := a.jwksFetches(); n != 1 {
		t.Fatalf("JWKS fetches = %d, want 1", n)
	}
}

// TestJWKSFetchFailureKeepsKeys: a failed refetch (for an unknown kid)
// keeps the keys fetched before.
func TestJWKSFetchFailureKeepsKeys(t *testing.T) {
	t.Parallel()
	a, clk := newClockedApp(t, appConfig{})
	a.login(t, a.browser, "/")
	clk.Advance(time.Minute)
	a.op.SetFaults(oidctest.Faults{
		IDTokenHeader: func(h map[string]any) { h["kid"] = "unknown" },
		Endpoints:     map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: http.StatusInternalServerError}},
	})
	b := newBrowser(t)
	a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, rp.ErrInvalidSignature)
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", n)
	}
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: http.StatusInternalServerError}}})
	a.login(t, newBrowser(t), "/")
}

// TestJWKSRotationUnderLoad rotates the provider's keys and then logs in
// several users at once while the JWKS endpoint is slow: the logins that
// arrive while the refetch is in flight wait for it rather than fail.
func TestJWKSRotationUnderLoad(t *testing.T) {
	t.Parallel()
	a, clk := newClockedApp(t, appConfig{})
	a.login(t, a.browser, "/")
	if err := a.op.RotateKeys(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Second)
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Delay: 100 * time.Millisecond},
	}})
	const users = 8
	var cbs []string
	var browsers []*browser
	for range users {
		b := newBrowser(t)
		browsers = append(browsers, b)
		cbs = append(cbs, a.callbackURL(t, b, "/"))
	}
	login := func(i int) {
		resp, err := browsers[i].noFollow.Get(cbs[i])
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("login %d: %d, want 303", i, resp.StatusCode)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { login(0) })
	// The others arrive once the first one's refetch is in flight.
	for deadline := time.Now().Add(5 * time.Second); a.jwksFetches() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first login did not refetch the JWKS")
		}
	}
	for i := 1; i < users; i++ {
		wg.Go(func() { login(i) })
	}
	wg.Wait()
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches = %d, want 2", n)
	}
}

// TestJWKSEncryptionKeys: keys published for encryption ("use": "enc")
// do not verify signatures.
func TestJWKSEncryptionKeys(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	set := a.op.JWKS()
	for i := range set.Keys {
		set.Keys[i].Use = "enc"
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Status: http.StatusOK, Body: string(body)},
	}})
	b := a.browser
	a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, rp.ErrInvalidSignature)
}

// TestJWKSKeyAlg: a key is used only with the algorithm it declares. The
// provider lists PS256 too; the ID token is signed with PS256 by a key the
// JWKS declares for RS256 (same key type, another algorithm).
func TestJWKSKeyAlg(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		declared string
		want     error
	}{
		{"RS256", rp.ErrInvalidSignature},
		{"PS256", nil},
	} {
		t.Run("declared "+tt.declared, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, appConfig{faults: oidctest.Faults{Discovery: func(d map[string]any) {
				d["id_token_signing_alg_values_supported"] = []string{"RS256", "PS256"}
			}}})
			set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "mine", Algorithm: tt.declared, Use: "sig"}}})
			if err != nil {
				t.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: key},
				(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "mine"))
			if err != nil {
				t.Fatal(err)
			}
			a.op.SetFaults(oidctest.Faults{
				Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: http.StatusOK, Body: string(set)}},
				TokenResponse: func(body map[string]any) {
					raw, _ := body["id_token"].(string)
					parts := strings.Split(raw, ".")
					payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
					if jws, err := signer.Sign(payload); err == nil {
						body["id_token"], _ = jws.CompactSerialize()
					}
				},
			})
			b := a.browser
			cb := a.callbackURL(t, b, "/")
			if tt.want == nil {
				if r := get(t, b.noFollow, cb); r.status != http.StatusSeeOther {
					t.Fatalf("callback: %d %s", r.status, r.body)
				}
				return
			}
			a.refused(t, b, cb, http.StatusBadRequest, tt.want)
		})
	}
}

// TestJWKSMaxAge: keys fetched an hour ago are fetched again before use,
// so a key the provider withdrew stops verifying; when that fetch fails,
// the last good keys still work.
func TestJWKSMaxAge(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a := newApp(t, appConfig{op: oidctest.Config{Now: clk.Now}, edit: func(cfg *rp.Config) { cfg.Now = clk.Now }})
	a.login(t, a.browser, "/")
	clk.Advance(59 * time.Minute)
	a.login(t, newBrowser(t), "/")
	if n := a.jwksFetches(); n != 1 {
		t.Fatalf("JWKS fetches within the hour = %d, want 1", n)
	}
	clk.Advance(2 * time.Minute)
	a.login(t, newBrowser(t), "/")
	if n := a.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetches after an hour = %d, want 2", n)
	}
	// An hour later the JWKS endpoint fails: the keys at hand still serve.
	clk.Advance(61 * time.Minute)
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: http.StatusInternalServerError}}})
	a.login(t, newBrowser(t), "/")
	if n := a.jwksFetches(); n != 3 {
		t.Fatalf("JWKS fetches after the second hour = %d, want 3 (one failed)", n)
	}
}
