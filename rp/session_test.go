package rp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/sessions"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// TestSessionRotatedAtLogin plants a session before login (session
// fixation): after login the session has another ID and none of the
// planted values.
func TestSessionRotatedAtLogin(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	r := get(t, b.noFollow, a.app.URL+"/visit")
	if r.status != http.StatusOK || r.body == "" {
		t.Fatalf("GET /visit: %d %q", r.status, r.body)
	}
	before := r.body
	if r := get(t, b.noFollow, a.app.URL+"/sid"); r.body != before+" true" {
		t.Fatalf("before login: %q, want %q", r.body, before+" true")
	}
	a.login(t, b, "/")
	r = get(t, b.noFollow, a.app.URL+"/sid")
	id, planted, _ := strings.Cut(r.body, " ")
	if id == before || id == "" {
		t.Fatalf("session ID %q after login, was %q: not rotated", id, before)
	}
	if planted != "false" {
		t.Fatal("a value stored before login survived it")
	}
	a.whoami(t, b)
}

// TestSessionCookieSealed checks that no token travels in clear in the
// cookies the callback sets.
func TestSessionCookieSealed(t *testing.T) {
	t.Parallel()
	spy := &tokenSpy{}
	a := newApp(t, appConfig{faults: oidctest.Faults{TokenResponse: spy.record}})
	b := a.browser
	r := get(t, b.noFollow, a.callbackURL(t, b, "/"))
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	var cookies []string
	for _, c := range r.header.Values("Set-Cookie") {
		cookies = append(cookies, c)
		if dec, err := url.QueryUnescape(c); err == nil {
			cookies = append(cookies, dec)
		}
	}
	all := strings.Join(cookies, "\n")
	if !strings.Contains(all, "keyway=") {
		t.Fatalf("no session cookie set: %s", all)
	}
	for _, member := range []string{"access_token", "refresh_token", "id_token"} {
		tok := spy.last(t, member)
		if tok == "" {
			t.Fatalf("the token response has no %s", member)
		}
		// Every JWT segment, and every 16-byte window of an opaque token.
		for _, part := range strings.Split(tok, ".") {
			for i := 0; i+16 <= len(part); i += 8 {
				if strings.Contains(all, part[i:i+16]) {
					t.Fatalf("the cookies carry part of the %s in clear: %q", member, part[i:i+16])
				}
			}
		}
	}
	for _, c := range r.cookies {
		if c.Name == "keyway" && !c.HttpOnly {
			t.Fatal("the session cookie is not HttpOnly")
		}
	}
}

func TestRequireLogin(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	for _, tt := range []struct{ path, returnTo string }{
		{"/me", "/me"},
		{"/me?tab=2&q=a%20b", "/me?tab=2&q=a%20b"},
	} {
		r := get(t, b.noFollow, a.app.URL+tt.path)
		want := "/login?return_to=" + url.QueryEscape(tt.returnTo)
		if r.status != http.StatusFound || r.location != want {
			t.Errorf("GET %s: %d %q, want 302 to %q", tt.path, r.status, r.location, want)
		}
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, a.app.URL+"/me", strings.NewReader("{}"))
		r := do(t, b.noFollow, req)
		if r.status != http.StatusUnauthorized || strings.TrimSpace(r.body) != `{"error":"login_required"}` ||
			r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s /me: %d %q %q, want 401 login_required JSON", method, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	// Logged in, the page is served.
	a.login(t, b, "/me")
	a.whoami(t, b)
}

// TestRequireLoginOtherIssuer: a session from another provider (another
// RP sharing the session name) is no login here.
func TestRequireLoginOtherIssuer(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	a.login(t, a.browser, "/")
	other := newApp(t, appConfig{edit: func(c *rp.Config) { c.Sessions = a.sessions }})
	req := a.requestWithCookies(t, a.browser, http.MethodGet, "/me")
	rec := httptest.NewRecorder()
	other.rp.RequireLogin("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("another issuer's session was accepted")
	})).ServeHTTP(rec, req)
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), "/login?") {
		t.Fatalf("other RP: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

// downStore is a cookie store that, while down is set, fails to read a
// session cookie with session.ErrUnavailable, as a RedisStore does while
// Redis does not answer.
type downStore struct {
	*session.CookieStore
	down atomic.Bool
}

func (s *downStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	if _, err := r.Cookie(name); err == nil && s.down.Load() {
		return sessions.NewSession(s, name), fmt.Errorf("%w: stand-in", session.ErrUnavailable)
	}
	return s.CookieStore.Get(r, name)
}

// TestSessionStoreUnavailable: a session the store cannot read is neither
// a login nor no login: RequireLogin and Authenticate answer 503, and
// AccessToken fails with ErrSessionUnavailable. A request without a
// session is not affected, and the session is intact afterwards.
func TestSessionStoreUnavailable(t *testing.T) {
	t.Parallel()
	store := &downStore{}
	a := newApp(t, appConfig{edit: func(c *rp.Config) {
		store.CookieStore = c.Sessions.(*session.CookieStore)
		c.Sessions = store
	}})
	b := a.browser
	a.login(t, b, "/")
	store.down.Store(true)

	a.requireUnavailable(t, b)
	rec := httptest.NewRecorder()
	a.rp.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("Authenticate served a request whose session it could not read")
	})).ServeHTTP(rec, a.requestWithCookies(t, b, http.MethodGet, "/"))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("Authenticate: %d, want 503", rec.Code)
	}
	_, err := a.accessToken(t, b)
	if !errors.Is(err, rp.ErrSessionUnavailable) || !errors.Is(err, session.ErrUnavailable) || errors.Is(err, rp.ErrLoginRequired) {
		t.Errorf("AccessToken: %v, want ErrSessionUnavailable wrapping session.ErrUnavailable", err)
	}
	a.requireNoSession(t, newBrowser(t))

	store.down.Store(false)
	a.whoami(t, b)
}
