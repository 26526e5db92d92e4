package rp_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

// frontchannelURL is the app's front-channel logout URL with query q.
func (a *testApp) frontchannelURL(q url.Values) string {
	return a.app.URL + "/frontchannel-logout?" + q.Encode()
}

// TestFrontchannelLogout: the right iss and sid end that provider
// session, in the browser that loads the page (its cookie is deleted) and
// wherever else its cookies are (a cross-site iframe gets no Lax cookies).
func TestFrontchannelLogout(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b, other := a.browser, newBrowser(t)
	a.login(t, b, "/")
	a.login(t, other, "/")
	sid := a.sidOf(t, b)

	// Another provider session's logout leaves this browser's alone.
	r := get(t, b.noFollow, a.frontchannelURL(url.Values{"iss": {a.op.Issuer}, "sid": {"another-sid"}}))
	if r.status != http.StatusOK || len(r.cookies) != 0 {
		t.Fatalf("front-channel logout of another sid: %d, cookies %v", r.status, r.cookies)
	}
	a.whoami(t, b)

	u := a.frontchannelURL(url.Values{"iss": {a.op.Issuer}, "sid": {sid}})

	r = get(t, b.noFollow, u)
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d %q %q %s", u, r.status, r.header.Get("Cache-Control"), r.header.Get("Content-Type"), r.body)
	}
	deleted := false
	for _, c := range r.cookies {
		deleted = deleted || c.Name == "keyway" && c.MaxAge < 0
	}
	if !deleted {
		t.Fatal("the browser's session cookie was not deleted")
	}
	a.requireNoSession(t, b)
	a.whoami(t, other)

	// Without the browser's cookies, the sid is ended all the same.
	c := newBrowser(t)
	a.login(t, c, "/")
	saved := a.cookiesOf(c)
	if r := get(t, http.DefaultClient, a.frontchannelURL(url.Values{"iss": {a.op.Issuer}, "sid": {a.sidOf(t, c)}})); r.status != http.StatusOK {
		t.Fatalf("front-channel logout without cookies: %d %s", r.status, r.body)
	}
	a.requireNoSession(t, c)
	a.setCookies(c, saved)
	a.requireNoSession(t, c)
}

// TestFrontchannelLogoutRefused: a request without the provider's issuer
// or a sid ends nothing.
func TestFrontchannelLogoutRefused(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	a.login(t, b, "/")
	sid := a.sidOf(t, b)
	for _, tt := range []struct {
		name   string
		method string
		q      url.Values
		status int
	}{
		{"wrong iss", http.MethodGet, url.Values{"iss": {a.op.Issuer + "/other"}, "sid": {sid}}, http.StatusBadRequest},
		{"iss with a trailing slash", http.MethodGet, url.Values{"iss": {a.op.Issuer + "/"}, "sid": {sid}}, http.StatusBadRequest},
		{"no iss", http.MethodGet, url.Values{"sid": {sid}}, http.StatusBadRequest},
		{"no sid", http.MethodGet, url.Values{"iss": {a.op.Issuer}}, http.StatusBadRequest},
		{"empty sid", http.MethodGet, url.Values{"iss": {a.op.Issuer}, "sid": {""}}, http.StatusBadRequest},
		{"oversized sid", http.MethodGet, url.Values{"iss": {a.op.Issuer}, "sid": {strings.Repeat("s", 1025)}}, http.StatusBadRequest},
		{"POST", http.MethodPost, url.Values{"iss": {a.op.Issuer}, "sid": {sid}}, http.StatusMethodNotAllowed},
		{"oversized query", http.MethodGet, url.Values{"iss": {a.op.Issuer}, "sid": {sid}, "pad": {strings.Repeat("p", 8<<10)}}, http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, a.frontchannelURL(tt.q), nil)
			r := do(t, b.noFollow, req)
			if r.status != tt.status || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: %d %q, want %d no-store", tt.name, r.status, r.header.Get("Cache-Control"), tt.status)
			}
			a.whoami(t, b)
		})
	}
}

// cookiesOf returns b's cookies for the app.
func (a *testApp) cookiesOf(b *browser) []*http.Cookie {
	u, _ := url.Parse(a.app.URL)
	return b.jar.Cookies(u)
}
