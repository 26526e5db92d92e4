package interop

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestWebappBackchannelLogout logs the user out at the provider, not at the app:
// the provider posts a logout token for the login's sid to the app's
// /backchannel-logout and waits for the answer before it redirects, so the
// session is over when the redirect comes. A copy of the session cookie taken
// before, in a second browser (as a thief would hold it), is refused from then on:
// the cookie store's session by the logout the rp recorded, the Redis store's
// because the session is gone from Redis. Logging in again works.
func TestWebappBackchannelLogout(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"cookie", "redis"} {
		t.Run("store="+store, func(t *testing.T) {
			t.Parallel()
			requireStore(t, store)
			p := startProvider(t, providerOptions{})
			d := p.discovery(t)
			app := startWebapp(t, p, webappOptions{SessionStore: store, BackchannelLogout: true})
			appURL, err := url.Parse(app.URL)
			if err != nil {
				t.Fatal(err)
			}
			browser := newBrowser(t)
			app.login(t, p, browser, "/", "ada")
			sid, _ := app.me(t, browser).Claims["sid"].(string)
			if sid == "" {
				t.Fatal("/me: the ID token has no sid, although the client was registered with backchannel_logout_session_required")
			}

			stolen := newBrowser(t)
			stolen.Jar.SetCookies(appURL, sessionCookiesIn(browser.Jar, appURL))
			if m := app.me(t, stolen); m.Sub != "ada" {
				t.Fatalf("/me with the copied cookie: sub %q, want ada", m.Sub)
			}
			var id string // of the Redis session
			var before []string
			if app.Redis != nil {
				id = app.sessionID(t, browser)
				before = app.requireRedisSession(t, id, true)
			}

			// The user signs out at the provider ("Yes, sign me out"), which ends
			// the provider session and with it the app's.
			after := p.logout(t, browser, d.EndSessionEndpoint+"?"+url.Values{
				"client_id":                {app.ClientID},
				"post_logout_redirect_uri": {app.URL + "/"},
			}.Encode())
			if after.String() != app.URL+"/" {
				t.Errorf("after the provider's logout: redirected to %q, want %q", after, app.URL+"/")
			}
			app.requireLoggedOut(t, stolen)
			app.requireLoggedOut(t, browser)
			if app.Redis != nil {
				keys := app.redisKeys(t, id)
				if len(keysOf(keys, "s:")) > 0 || len(keysOf(keys, "sid:")) > 0 || len(keys) >= len(before) {
					t.Errorf("after back-channel logout, the Redis keys of the session: %q (before: %q); want its data and sid index entry gone", keys, before)
				}
				t.Logf("Redis keys of the session: %d before the logout, %d after", len(before), len(keys))
			}

			// A new login starts a new provider session, which the logout of
			// the old one does not end.
			app.login(t, p, browser, "/", "ada")
			if m := app.me(t, browser); m.Sub != "ada" || m.Claims["sid"] == sid {
				t.Errorf("/me after logging in again: sub %q, sid %v; want ada with a new sid (old %q)", m.Sub, m.Claims["sid"], sid)
			}
		})
	}
}

// sessionCookiesIn returns the app's session cookies in jar, without the
// provider's: a cookie jar keeps cookies by host, whatever the port, and the
// provider and the app share 127.0.0.1.
func sessionCookiesIn(jar http.CookieJar, appURL *url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range jar.Cookies(appURL) {
		if c.Name == sessionCookie || strings.HasPrefix(c.Name, sessionCookie+".") {
			out = append(out, c)
		}
	}
	return out
}
