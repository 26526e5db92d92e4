package interop

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run examples/webapp (Keyway's rp behind the examples contract's
// routes) against oidc-provider: login through the provider's forms, refresh with
// rotation, RP-initiated logout, and the requests the app must refuse.

// shortTTL is the access token lifetime of the refresh tests: waiting it out is the
// only sleep these tests make.
const shortTTL = 2 * time.Second

// TestWebappLogin logs in through the provider's forms, with each session store,
// and checks what the app then knows of the user; with Redis, that the session is
// there, indexed by subject.
func TestWebappLogin(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"cookie", "redis"} {
		t.Run("store="+store, func(t *testing.T) {
			t.Parallel()
			requireStore(t, store)
			p := startProvider(t, providerOptions{})
			app := startWebapp(t, p, webappOptions{SessionStore: store})
			browser := newBrowser(t)

			if _, next := app.login(t, p, browser, "/profile", "ada"); next != "/profile" {
				t.Fatalf("after the callback: redirected to %q, want /profile (return_to)", next)
			}
			if app.Redis != nil {
				app.requireRedisSession(t, app.sessionID(t, browser), false)
			}
			profile := app.get(t, browser, "/profile")
			if profile.Status != http.StatusOK || !strings.Contains(profile.Body, "Ada Lovelace") || !strings.Contains(profile.Body, "<code>ada</code>") {
				t.Errorf("GET /profile: status %d, want 200 naming Ada Lovelace (sub ada): %s", profile.Status, pageText([]byte(profile.Body)))
			}

			m := app.me(t, browser)
			if m.Sub != "ada" || m.Iss != p.Issuer {
				t.Errorf("/me: sub %q, iss %q; want ada, %q", m.Sub, m.Iss, p.Issuer)
			}
			for name, want := range map[string]any{
				"sub":            "ada",
				"iss":            p.Issuer,
				"aud":            app.ClientID,
				"name":           "Ada Lovelace",    // from userinfo
				"email":          "ada@example.com", // from userinfo
				"email_verified": true,              // from userinfo
			} {
				if got := m.Claims[name]; got != want {
					t.Errorf("/me: claims[%q] = %v, want %v", name, got, want)
				}
			}
			for _, name := range []string{"exp", "iat", "nonce"} {
				if _, ok := m.Claims[name]; !ok {
					t.Errorf("/me: no %q among the ID token's claims %v", name, m.Claims)
				}
			}

			if home := app.get(t, browser, "/"); home.Status != http.StatusOK || !strings.Contains(home.Body, "Signed in as") {
				t.Errorf("GET /: status %d, want 200 signed in: %s", home.Status, pageText([]byte(home.Body)))
			}
			// Without API_URL, /api says so.
			if api := app.get(t, browser, "/api"); api.Status != http.StatusNotFound || !strings.Contains(api.Body, "API_URL is not set") {
				t.Errorf("GET /api without API_URL: status %d: %s", api.Status, snippet([]byte(api.Body)))
			}
		})
	}
}

// TestWebappCallbackReplay replays a successful login's callback URL. The same
// browser, and any other, lacks the login transaction (used once); a thief who
// copied the transaction cookie too gets past that check, but the provider refuses
// the code a second time. No replay starts a session.
func TestWebappCallbackReplay(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	app := startWebapp(t, p, webappOptions{})
	appURL, _ := url.Parse(app.URL)

	victim := newBrowser(t)
	authorizeURL := app.startLogin(t, p, victim, "/profile")
	transaction := victim.Jar.Cookies(appURL) // the sealed login transaction
	if len(transaction) == 0 {
		t.Fatal("GET /login set no transaction cookie")
	}
	callback := p.login(t, victim, authorizeURL, "ada")
	app.finishLogin(t, victim, callback)

	replay := func(t *testing.T, c *http.Client, wantText string) {
		t.Helper()
		r := app.get(t, c, callback.String())
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, "Sign-in failed") {
			t.Errorf("replayed callback: status %d, want 400 and the error page: %s", r.Status, pageText([]byte(r.Body)))
		}
		if text := pageText([]byte(r.Body)); !strings.Contains(text, wantText) {
			t.Errorf("replayed callback: error page %q, want it to mention %q", text, wantText)
		}
		if setsSession(r.Header) {
			t.Errorf("replayed callback set a session cookie: %q", r.Header.Values("Set-Cookie"))
		}
	}

	t.Run("same browser", func(t *testing.T) {
		replay(t, victim, "state mismatch")
		if m := app.me(t, victim); m.Sub != "ada" {
			t.Errorf("the first login's session: sub %q, want ada", m.Sub)
		}
	})
	t.Run("another browser", func(t *testing.T) {
		thief := newBrowser(t)
		replay(t, thief, "state mismatch")
		app.requireLoggedOut(t, thief)
	})
	t.Run("another browser with the transaction cookie", func(t *testing.T) {
		// The state is spent in the app's replay cache: the stolen cookie
		// does not take the code to the provider, which would revoke the
		// victim's grant.
		thief := newBrowser(t)
		thief.Jar.SetCookies(appURL, transaction)
		replay(t, thief, "a replayed callback")
		app.requireLoggedOut(t, thief)
		if m := app.me(t, victim); m.Sub != "ada" {
			t.Errorf("the victim's session after the replay: sub %q, want ada", m.Sub)
		}
	})
}

// TestWebappRefresh lets the access token expire and calls the API through the
// app: the rp refreshes it, and saves the rotated refresh token, which the next
// refresh proves (oidc-provider revokes the whole grant when a rotated refresh
// token is presented again). Then 20 concurrent requests of one session after
// expiry all succeed: none presents a refresh token the provider has rotated
// away, which would end the grant.
func TestWebappRefresh(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{AccessTokenTTL: shortTTL})
	app := startWebapp(t, p, webappOptions{APIURL: startEchoAPI(t, p)})
	browser := newBrowser(t)
	app.login(t, p, browser, "/", "ada")

	// The API takes only tokens the provider's userinfo endpoint accepts, so a
	// 200 after the wait is a new token: the login's has expired.
	var seen []string
	expireAndCall := func(step string) string {
		t.Helper()
		time.Sleep(shortTTL + time.Second)
		token := app.callAPI(t, browser)
		if slices.Contains(seen, token) {
			t.Fatalf("%s: the API got an access token it had seen before", step)
		}
		seen = append(seen, token)
		return token
	}
	expireAndCall("first refresh")
	expireAndCall("second refresh, with the rotated refresh token")

	// 20 requests with the same session cookie, all after expiry: they hold one
	// refresh token, which the provider takes once.
	time.Sleep(shortTTL + time.Second)
	appURL, _ := url.Parse(app.URL)
	results := concurrentAPICalls(t, app, browser.Jar.Cookies(appURL), 20)
	var tokens []string
	for i, r := range results {
		token := apiToken(t, r) // 200: a token the provider accepts
		if slices.Contains(seen, token) {
			t.Errorf("concurrent request %d: the API got an access token it had seen before", i)
		}
		if !slices.Contains(tokens, token) {
			tokens = append(tokens, token)
		}
		if !setsSession(r.Header) {
			t.Errorf("concurrent request %d: the refreshed session was not saved", i)
		}
	}
	// One refresh would do. The rp makes more when the new access token already
	// counts as due for refresh, which a 2-second one does: the late requests
	// then refresh again from the rotated refresh token, never reusing one.
	t.Logf("concurrent requests: the API got %d access tokens", len(tokens))
	seen = append(seen, tokens...)
	// Like a browser, keep the cookie of the answer that came last.
	browser.Jar.SetCookies(appURL, (&http.Response{Header: results[len(results)-1].Header}).Cookies())
	expireAndCall("refresh after the concurrent ones")

	if m := app.me(t, browser); m.Sub != "ada" {
		t.Errorf("/me after the refreshes: sub %q, want ada", m.Sub)
	}
}

// concurrentAPICalls sends n requests to /api at once, each with cookies and no
// cookie jar, and returns their answers in the order they came.
func concurrentAPICalls(t *testing.T, app *webapp, cookies []*http.Cookie, n int) []appResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := &http.Client{
		Timeout:       15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var (
		mu      sync.Mutex
		results []appResponse
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, app.URL+"/api", nil)
			if err != nil {
				t.Error(err)
				return
			}
			for _, ck := range cookies {
				req.AddCookie(ck)
			}
			<-start
			resp, err := c.Do(req)
			if err != nil {
				t.Errorf("concurrent request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
			if err != nil {
				t.Errorf("concurrent request %d: %v", i, err)
			}
			mu.Lock()
			results = append(results, appResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(body)})
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if len(results) != n {
		t.FailNow() // the requests that failed were reported
	}
	return results
}

// TestWebappLogout refuses a cross-origin logout, then logs out through the
// provider: POST /logout ends the app's session and sends the browser to the
// end_session_endpoint, whose confirmation returns it to the app's home page. With
// Redis, the session's data and index entries are gone from Redis.
func TestWebappLogout(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"cookie", "redis"} {
		t.Run("store="+store, func(t *testing.T) {
			t.Parallel()
			requireStore(t, store)
			p := startProvider(t, providerOptions{})
			d := p.discovery(t)
			app := startWebapp(t, p, webappOptions{APIURL: startEchoAPI(t, p), SessionStore: store})
			browser := newBrowser(t)
			app.login(t, p, browser, "/", "ada")
			var id string // of the Redis session
			if app.Redis != nil {
				id = app.sessionID(t, browser)
				app.requireRedisSession(t, id, false)
			}

			// A token that is still fresh is used as it is, not refreshed on every call.
			if first, second := app.callAPI(t, browser), app.callAPI(t, browser); first != second {
				t.Error("two API calls with a fresh access token sent two tokens: a needless refresh")
			}

			for name, header := range map[string]http.Header{
				"foreign Origin":             {"Origin": {"http://evil.example"}},
				"Sec-Fetch-Site: cross-site": {"Sec-Fetch-Site": {"cross-site"}, "Origin": {app.URL}},
			} {
				r := app.post(t, browser, "/logout", header)
				if r.Status != http.StatusForbidden {
					t.Errorf("cross-origin POST /logout (%s): status %d, want 403", name, r.Status)
				}
				if deletesSession(r.Header) {
					t.Errorf("cross-origin POST /logout (%s) deleted the session cookie", name)
				}
				if m := app.me(t, browser); m.Sub != "ada" {
					t.Errorf("after a cross-origin POST /logout (%s): sub %q, want the session to stay", name, m.Sub)
				}
			}

			r := app.post(t, browser, "/logout", http.Header{"Origin": {app.URL}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("POST /logout: status %d, want 303: %s", r.Status, snippet([]byte(r.Body)))
			}
			if !deletesSession(r.Header) {
				t.Errorf("POST /logout did not delete the session cookie: %q", r.Header.Values("Set-Cookie"))
			}
			if app.Redis != nil {
				if keys := app.redisKeys(t, id); len(keys) > 0 {
					t.Errorf("after POST /logout the session is still in Redis: %q", keys)
				}
			}
			endSession, err := url.Parse(r.Location)
			if err != nil || endSession.Scheme+"://"+endSession.Host+endSession.Path != d.EndSessionEndpoint {
				t.Fatalf("POST /logout redirects to %q, want the end_session_endpoint %q", r.Location, d.EndSessionEndpoint)
			}
			q := endSession.Query()
			if got := q.Get("post_logout_redirect_uri"); got != app.URL+"/" {
				t.Errorf("post_logout_redirect_uri = %q, want %q", got, app.URL+"/")
			}
			if hint := q.Get("id_token_hint"); hint == "" {
				t.Error("no id_token_hint")
			} else if _, claims := decodeJWT(t, hint); claims["iss"] != p.Issuer || claims["aud"] != app.ClientID || claims["sub"] != "ada" {
				t.Errorf("id_token_hint claims = %v, want the login's ID token", claims)
			}

			after := p.logout(t, browser, r.Location)
			if after.String() != app.URL+"/" {
				t.Errorf("after the provider's logout: redirected to %q, want %q", after, app.URL+"/")
			}
			if home := app.get(t, browser, after.String()); home.Status != http.StatusOK || !strings.Contains(home.Body, "not signed in") {
				t.Errorf("GET / after logout: status %d: %s", home.Status, pageText([]byte(home.Body)))
			}
			app.requireLoggedOut(t, browser)
			if api := app.get(t, browser, "/api"); api.Status != http.StatusFound || api.Location != "/login?return_to=%2Fapi" {
				t.Errorf("GET /api after logout: status %d to %q, want 302 to /login?return_to=%%2Fapi", api.Status, api.Location)
			}

			// The provider's session ended too: a silent login fails.
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			silent, err := p.authorize(ctx, browser, withPrompt(t, app.startLogin(t, p, browser, "/"), "none"), "ada")
			if err != nil {
				t.Fatal(err)
			}
			if e := silent.Query().Get("error"); e != "login_required" {
				t.Errorf("prompt=none after logout: redirected to %s, want error=login_required", silent.Redacted())
			}
		})
	}
}

// withPrompt returns authorizeURL with its prompt parameter set to prompt
// (the app sends prompt=consent with offline_access; one prompt only).
func withPrompt(t testing.TB, authorizeURL, prompt string) string {
	t.Helper()
	u, err := url.Parse(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("prompt", prompt)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestWebappPublicClient logs in with a public client: no client secret, PKCE
// alone protects the code; the refresh authenticates with client_id only.
func TestWebappPublicClient(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{AccessTokenTTL: shortTTL})
	app := startWebapp(t, p, webappOptions{Public: true, APIURL: startEchoAPI(t, p)})
	browser := newBrowser(t)

	if _, next := app.login(t, p, browser, "/profile", "grace"); next != "/profile" {
		t.Fatalf("after the callback: redirected to %q, want /profile", next)
	}
	if profile := app.get(t, browser, "/profile"); profile.Status != http.StatusOK || !strings.Contains(profile.Body, "grace") {
		t.Errorf("GET /profile: status %d: %s", profile.Status, pageText([]byte(profile.Body)))
	}
	m := app.me(t, browser)
	if m.Sub != "grace" || m.Iss != p.Issuer || m.Claims["aud"] != app.ClientID || m.Claims["email"] != "grace@example.com" {
		t.Errorf("/me = %+v, want sub grace at %s for %s", m, p.Issuer, app.ClientID)
	}

	time.Sleep(shortTTL + time.Second)
	app.callAPI(t, browser) // refreshed: the login's token has expired
}
