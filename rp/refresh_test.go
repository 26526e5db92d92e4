package rp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// newRefreshApp returns an app whose provider and RP share a settable
// clock, with one-minute access tokens (unless c sets a TTL) and a spy on
// token responses.
func newRefreshApp(t testing.TB, c appConfig) (*testApp, *clock, *tokenSpy) {
	t.Helper()
	clk := newClock()
	spy := &tokenSpy{}
	c.op.Now = clk.Now
	if c.op.AccessTokenTTL == 0 {
		c.op.AccessTokenTTL = time.Minute
	}
	c.faults.TokenResponse = spy.record
	edit := c.edit
	c.edit = func(cfg *rp.Config) {
		cfg.Now = clk.Now
		if edit != nil {
			edit(cfg)
		}
	}
	return newApp(t, c), clk, spy
}

// refreshRequests returns the refresh_token of each refresh grant.
func (a *testApp) refreshRequests() []string {
	var out []string
	for _, r := range a.op.Requests(oidctest.EndpointToken) {
		if r.Form.Get("grant_type") == "refresh_token" {
			out = append(out, r.Form.Get("refresh_token"))
		}
	}
	return out
}

// accessToken calls RP.AccessToken directly with b's cookies and keeps the
// cookies it sets.
func (a *testApp) accessToken(t testing.TB, b *browser) (string, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	tok, err := a.rp.AccessToken(rec, a.requestWithCookies(t, b, http.MethodGet, "/"))
	a.keepCookies(b, rec)
	return tok, err
}

func TestRefreshNearExpiry(t *testing.T) {
	t.Parallel()
	a, clk, spy := newRefreshApp(t, appConfig{})
	b := a.browser
	a.login(t, b, "/")
	rt0 := spy.last(t, "refresh_token")
	at0 := a.whoami(t, b).AccessToken

	clk.Advance(29 * time.Second) // 31 s left: still good
	if at := a.whoami(t, b).AccessToken; at != at0 || a.refreshCount() != 0 {
		t.Fatalf("refreshed with 31 s left (%d refreshes)", a.refreshCount())
	}
	clk.Advance(2 * time.Second) // 29 s left: refresh
	at1 := a.whoami(t, b).AccessToken
	if at1 == at0 || a.refreshCount() != 1 {
		t.Fatalf("not refreshed with 29 s left (%d refreshes)", a.refreshCount())
	}
	if spy.last(t, "access_token") != at1 {
		t.Fatal("the access token is not the refreshed one")
	}
	rt1 := spy.last(t, "refresh_token")

	// The rotated refresh token was saved: the next refresh, past the time
	// the RP remembers rotations, presents it (the old one would make the
	// provider revoke the grant).
	clk.Advance(3 * time.Minute)
	at2 := a.whoami(t, b).AccessToken
	if got := a.refreshRequests(); len(got) != 2 || got[0] != rt0 || got[1] != rt1 {
		t.Fatalf("refresh requests presented %d tokens, want the original then the rotated one", len(got))
	}
	if at2 == at1 {
		t.Fatal("the second refresh returned the old access token")
	}
}

// TestRefreshShortLivedToken: a token living less than a minute is
// refreshed at half its life, not on every request.
func TestRefreshShortLivedToken(t *testing.T) {
	t.Parallel()
	a, clk, _ := newRefreshApp(t, appConfig{op: oidctest.Config{AccessTokenTTL: 20 * time.Second}})
	b := a.browser
	a.login(t, b, "/")
	at0 := a.whoami(t, b).AccessToken

	clk.Advance(5 * time.Second) // 15 s left of 20: still good
	if at := a.whoami(t, b).AccessToken; at != at0 || a.refreshCount() != 0 {
		t.Fatalf("refreshed with 15 s of 20 left (%d refreshes)", a.refreshCount())
	}
	clk.Advance(6 * time.Second) // 9 s left: past half its life
	if at := a.whoami(t, b).AccessToken; at == at0 || a.refreshCount() != 1 {
		t.Fatalf("not refreshed with 9 s of 20 left (%d refreshes)", a.refreshCount())
	}
	if at := a.whoami(t, b).AccessToken; a.refreshCount() != 1 {
		t.Fatalf("the fresh token %.10s… was refreshed again (%d refreshes)", at, a.refreshCount())
	}
}

// TestRefreshConcurrent sends 50 requests with the same session cookie and
// an expired access token: the provider sees one refresh, every request
// gets the new token, and the grant stays valid.
func TestRefreshConcurrent(t *testing.T) {
	t.Parallel()
	a, clk, spy := newRefreshApp(t, appConfig{})
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)

	const n = 50
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		tokens  = map[string]int{}
		cookies []*http.Cookie
	)
	plain := &http.Client{Timeout: 10 * time.Second}
	for range n {
		wg.Go(func() {
			req := a.requestWithCookies(t, b, http.MethodGet, "/me")
			req.RequestURI = ""
			resp, err := plain.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var m meResponse
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &m) != nil {
				t.Errorf("GET /me: %d %s", resp.StatusCode, body)
				return
			}
			mu.Lock()
			tokens[m.AccessToken]++
			cookies = resp.Cookies()
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if c := a.refreshCount(); c != 1 {
		t.Fatalf("the provider saw %d refreshes for %d concurrent requests, want 1", c, n)
	}
	if len(tokens) != 1 || tokens[spy.last(t, "access_token")] != n {
		t.Fatalf("the requests got %d different access tokens, want the refreshed one for all", len(tokens))
	}
	// Any response's cookies carry the rotated tokens; the grant is intact.
	a.setCookies(b, cookies)
	rotated := spy.last(t, "refresh_token")
	clk.Advance(3 * time.Minute) // past the RP's memory of the rotation
	a.whoami(t, b)
	if got := a.refreshRequests(); len(got) != 2 || got[1] != rotated {
		t.Fatalf("the next refresh did not present the rotated refresh token")
	}
}

// TestRefreshGrantOver ends the grant at the provider: the refresh fails
// with invalid_grant, the session ends, the error is ErrLoginRequired.
func TestRefreshGrantOver(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		end  func(t *testing.T, a *testApp, rt string)
	}{
		{"revoked", func(t *testing.T, a *testApp, rt string) {
			if err := a.rp.Client().Revoke(context.Background(), rt, "refresh_token"); err != nil {
				t.Fatal(err)
			}
		}},
		{"rotated elsewhere, then reused", func(t *testing.T, a *testApp, rt string) {
			if _, err := a.rp.Client().Refresh(context.Background(), rt); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, clk, spy := newRefreshApp(t, appConfig{})
			b := a.browser
			a.login(t, b, "/")
			tt.end(t, a, spy.last(t, "refresh_token"))
			clk.Advance(2 * time.Minute)
			_, err := a.accessToken(t, b)
			if !errors.Is(err, rp.ErrLoginRequired) || !errors.Is(err, client.ErrInvalidGrant) {
				t.Fatalf("AccessToken: %v, want ErrLoginRequired from invalid_grant", err)
			}
			a.requireNoSession(t, b)
		})
	}
}

func TestRefreshWithoutRefreshToken(t *testing.T) {
	t.Parallel()
	a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) { c.Scopes = []string{"openid", "profile"} }})
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)
	if _, err := a.accessToken(t, b); !errors.Is(err, rp.ErrLoginRequired) {
		t.Fatalf("AccessToken: %v, want ErrLoginRequired", err)
	}
	if a.refreshCount() != 0 {
		t.Fatal("refreshed without a refresh token")
	}
}

func TestAccessTokenWithoutSession(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	if _, err := a.accessToken(t, a.browser); !errors.Is(err, rp.ErrLoginRequired) {
		t.Fatalf("AccessToken without a session: %v, want ErrLoginRequired", err)
	}
}

// TestRefreshedIDToken applies OpenID Connect Core §12.2 to the ID token of
// a refresh response: a refused one ends the session. The cases of a group
// share an app and run one after the other.
func TestRefreshedIDToken(t *testing.T) {
	t.Parallel()
	type refreshTest struct {
		name   string
		edit   func(c map[string]any, nonce string)
		faults oidctest.Faults
		want   error // nil: accepted
	}
	groups := []struct {
		name  string
		rp    func(*rp.Config)
		tests []refreshTest
	}{
		{name: "defaults", tests: []refreshTest{
			{name: "same claims, no nonce", edit: func(map[string]any, string) {}},
			{name: "same nonce", edit: func(c map[string]any, nonce string) { c["nonce"] = nonce }},
			{name: "no ID token", faults: oidctest.Faults{TokenResponse: func(b map[string]any) { delete(b, "id_token") }}},
			{name: "another nonce", edit: func(c map[string]any, _ string) { c["nonce"] = "another" }, want: rp.ErrNonceMismatch},
			{name: "another sub", edit: func(c map[string]any, _ string) { c["sub"] = "mallory" }, want: rp.ErrInvalidIDToken},
			{name: "another iss", edit: func(c map[string]any, _ string) { c["iss"] = "https://evil.example" }, want: rp.ErrIssuerMismatch},
			{name: "another azp", edit: func(c map[string]any, _ string) { c["azp"] = "api" }, want: rp.ErrInvalidIDToken},
			{name: "another auth_time", edit: func(c map[string]any, _ string) { c["auth_time"] = c["auth_time"].(int64) - 60 }, want: rp.ErrInvalidIDToken},
			{name: "expired", edit: func(c map[string]any, _ string) { c["exp"] = c["iat"].(int64) - 3600 }, want: rp.ErrExpired},
			{name: "bad signature", faults: oidctest.Faults{CorruptIDTokenSignature: true}, want: rp.ErrInvalidSignature},
		}},
		{name: "ExtraAudiences", rp: func(c *rp.Config) { c.ExtraAudiences = []string{"api"} }, tests: []refreshTest{
			{name: "another aud", edit: func(c map[string]any, _ string) { c["aud"] = []string{"app", "api"} }, want: rp.ErrInvalidIDToken},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			a, clk, spy := newRefreshApp(t, appConfig{edit: g.rp})
			for _, tt := range g.tests {
				t.Run(tt.name, func(t *testing.T) {
					a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record})
					b := newBrowser(t)
					a.login(t, b, "/")
					authz := a.op.Requests(oidctest.EndpointAuthorize)
					nonce := authz[len(authz)-1].Form.Get("nonce")
					f := tt.faults
					f.TokenResponse = chain(spy.record, f.TokenResponse)
					if tt.edit != nil {
						f.IDTokenClaims = func(c map[string]any) { tt.edit(c, nonce) }
					}
					a.op.SetFaults(f)
					clk.Advance(2 * time.Minute)
					refreshes := a.refreshCount()
					tok, err := a.accessToken(t, b)
					if n := a.refreshCount() - refreshes; n != 1 {
						t.Fatalf("refreshes = %d, want 1", n)
					}
					if tt.want == nil {
						if err != nil || tok != spy.last(t, "access_token") {
							t.Fatalf("AccessToken: %v", err)
						}
						a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record})
						a.whoami(t, b)
						return
					}
					if !errors.Is(err, rp.ErrLoginRequired) || !errors.Is(err, tt.want) {
						t.Fatalf("AccessToken: %v, want ErrLoginRequired and %v", err, tt.want)
					}
					a.requireNoSession(t, b)
				})
			}
		})
	}
}

func chain(fs ...func(map[string]any)) func(map[string]any) {
	return func(m map[string]any) {
		for _, f := range fs {
			if f != nil {
				f(m)
			}
		}
	}
}

// TestHTTPClient calls an API through RP.HTTPClient: it sends the access
// token, refreshed when needed, and the refreshed session is saved.
func TestHTTPClient(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []string
	)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	t.Cleanup(api.Close)
	a, clk, spy := newRefreshApp(t, appConfig{})
	b := a.browser
	a.login(t, b, "/")
	call := func() {
		t.Helper()
		rec := httptest.NewRecorder()
		c := a.rp.HTTPClient(rec, a.requestWithCookies(t, b, http.MethodGet, "/api"))
		resp, err := c.Get(api.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		a.keepCookies(b, rec)
	}
	call()
	clk.Advance(2 * time.Minute)
	call()
	call()
	want := []string{"Bearer " + spy.bodies[0]["access_token"].(string), "Bearer " + spy.last(t, "access_token"), "Bearer " + spy.last(t, "access_token")}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 || seen[0] != want[0] || seen[1] != want[1] || seen[2] != want[2] {
		t.Fatalf("the API saw %q, want %q", seen, want)
	}
	if a.refreshCount() != 1 {
		t.Fatalf("refreshes = %d, want 1", a.refreshCount())
	}

	// Without a session the client fails before sending anything.
	c := a.rp.HTTPClient(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api", nil))
	if _, err := c.Get(api.URL); !errors.Is(err, rp.ErrLoginRequired) {
		t.Fatalf("HTTPClient without a session: %v, want ErrLoginRequired", err)
	}
}

// TestRefreshStaleCookie sends, after a refresh, a request that still
// carries the session from before it (it left before the new cookie came
// back), once the refreshed access token has expired too: it gets a fresh
// token, refreshed from the rotated refresh token, not the spent one (which
// the provider's reuse detection would punish by revoking the grant).
func TestRefreshStaleCookie(t *testing.T) {
	t.Parallel()
	a, clk, spy := newRefreshApp(t, appConfig{})
	b := a.browser
	a.login(t, b, "/")
	stale := newBrowser(t)
	a.setCookies(stale, a.requestWithCookies(t, b, http.MethodGet, "/").Cookies())
	clk.Advance(2 * time.Minute)
	if _, err := a.accessToken(t, b); err != nil {
		t.Fatal(err)
	}
	rotated := spy.last(t, "refresh_token")
	clk.Advance(70 * time.Second) // the refreshed access token has expired
	tok, err := a.accessToken(t, stale)
	if err != nil {
		t.Fatalf("AccessToken with the stale session: %v", err)
	}
	if tok != spy.last(t, "access_token") || a.refreshCount() != 2 {
		t.Fatalf("got an old access token (%d refreshes), want a fresh one", a.refreshCount())
	}
	if got := a.refreshRequests(); got[1] != rotated {
		t.Fatal("the second refresh did not present the rotated refresh token")
	}
	a.whoami(t, b) // the grant is intact
}

// TestRefreshNoRotation: with a provider that keeps the refresh token, the
// second refresh within two minutes must not return the first refresh's
// access token, expired by then.
func TestRefreshNoRotation(t *testing.T) {
	t.Parallel()
	a, clk, spy := newRefreshApp(t, appConfig{op: oidctest.Config{NoRefreshRotation: true}})
	b := a.browser
	a.login(t, b, "/")
	for i := 1; i <= 3; i++ {
		clk.Advance(45 * time.Second)
		tok, err := a.accessToken(t, b)
		if err != nil {
			t.Fatal(err)
		}
		if tok != spy.last(t, "access_token") || a.refreshCount() != i {
			t.Fatalf("refresh %d: got an old access token (%d refreshes)", i, a.refreshCount())
		}
	}
}
