package rp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/keyway-go/keyway/internal/testenv"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// sessionKey seals the test app's session and transaction cookies.
var sessionKey = []byte(strings.Repeat("k", 32))

// clock is a settable clock for rp.Config.Now and oidctest.Config.Now.
type clock = testenv.Clock

func newClock() *clock { return testenv.NewClock(time.Now()) }

// appConfig says how newApp builds a test app.
type appConfig struct {
	op oidctest.Config
	// faults are set on the provider before discovery.
	faults oidctest.Faults
	// client edits the provider's registration of the client "app".
	client func(*oidctest.Client)
	// edit edits the RP's configuration before rp.New.
	edit func(*rp.Config)
}

// testApp is an app using rp against an oidctest provider.
type testApp struct {
	op       *oidctest.Server
	rp       *rp.RP
	app      *httptest.Server
	sessions *session.CookieStore
	browser  *browser // the default browser

	mu   sync.Mutex
	errs []error // what the error page was given, oldest first
}

func newTestApp(t testing.TB, opCfg oidctest.Config, edit func(*rp.Config)) *testApp {
	t.Helper()
	return newApp(t, appConfig{op: opCfg, edit: edit})
}

func newApp(t testing.TB, c appConfig) *testApp {
	t.Helper()
	a := &testApp{}
	mux := http.NewServeMux()
	a.app = httptest.NewServer(mux)
	t.Cleanup(a.app.Close)
	reg := oidctest.Client{
		ID: "app", Secret: "app-secret",
		RedirectURIs:           []string{a.app.URL + "/callback"},
		PostLogoutRedirectURIs: []string{a.app.URL + "/"},
		BackchannelLogoutURI:   a.app.URL + "/backchannel-logout",
	}
	if c.client != nil {
		c.client(&reg)
	}
	c.op.Clients = append(c.op.Clients, reg)
	a.op = oidctest.NewServer(c.op)
	t.Cleanup(a.op.Close)
	a.op.SetFaults(c.faults)
	var err error
	a.sessions, err = session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{})
	if err != nil {
		t.Fatal(err)
	}
	txs, err := session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute, SkipIdleTimeout: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rp.Config{
		Issuer: a.op.Issuer, ClientID: "app", ClientSecret: "app-secret",
		RedirectURL:           a.app.URL + "/callback",
		PostLogoutRedirectURL: a.app.URL + "/",
		Scopes:                []string{"openid", "profile", "email", "offline_access"},
		Sessions:              a.sessions, TransactionStore: txs,
		ErrorPage: a.errorPage,
	}
	if c.edit != nil {
		c.edit(&cfg)
	}
	a.rp, err = rp.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.routes(mux)
	a.browser = newBrowser(t)
	return a
}

// routes mounts the RP's handlers without method patterns, so that the
// RP's own method checks are what the tests see.
func (a *testApp) routes(mux *http.ServeMux) {
	mux.HandleFunc("/login", a.rp.Login)
	mux.HandleFunc("/callback", a.rp.Callback)
	mux.HandleFunc("/logout", a.rp.Logout)
	mux.HandleFunc("/backchannel-logout", a.rp.BackchannelLogout)
	mux.HandleFunc("/frontchannel-logout", a.rp.FrontchannelLogout)
	mux.Handle("/me", a.rp.RequireLogin("/login", http.HandlerFunc(a.meHandler)))
	mux.HandleFunc("GET /visit", a.visit)
	mux.HandleFunc("GET /sid", a.sid)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "home") })
}

// meHandler answers the user and a valid access token, as JSON.
func (a *testApp) meHandler(w http.ResponseWriter, r *http.Request) {
	u, _ := rp.UserFrom(r.Context())
	tok, err := a.rp.AccessToken(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(meResponse{Sub: u.Subject, Iss: u.Issuer, Name: u.Claims["name"], Claims: u.Claims, AccessToken: tok})
}

type meResponse struct {
	Sub         string         `json:"sub"`
	Iss         string         `json:"iss"`
	Name        any            `json:"name"`
	Claims      map[string]any `json:"claims"`
	AccessToken string         `json:"at"`
}

// visit stores a value in the session before any login, as an app that
// keeps a cart for anonymous users does, and answers the session ID.
func (a *testApp) visit(w http.ResponseWriter, r *http.Request) {
	s, _ := a.sessions.Get(r, "keyway")
	s.Values["pre-login"] = "planted"
	if err := s.Save(r, w); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	io.WriteString(w, s.ID)
}

// sid answers the session ID and whether the pre-login value is there.
func (a *testApp) sid(w http.ResponseWriter, r *http.Request) {
	s, _ := a.sessions.Get(r, "keyway")
	_, planted := s.Values["pre-login"]
	fmt.Fprintf(w, "%s %t", s.ID, planted)
}

// errorPage records the error and renders it escaped.
func (a *testApp) errorPage(w http.ResponseWriter, r *http.Request, status int, err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<p>%s</p>\n", html.EscapeString(err.Error()))
}

// lastError returns the error the last failed login was rendered with.
func (a *testApp) lastError(t testing.TB) error {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.errs) == 0 {
		t.Fatal("no error was rendered")
	}
	return a.errs[len(a.errs)-1]
}

func (a *testApp) count(endpoints ...string) int { return len(a.op.Requests(endpoints...)) }

// refreshCount is the number of refresh_token grants the provider received.
func (a *testApp) refreshCount() int {
	n := 0
	for _, r := range a.op.Requests(oidctest.EndpointToken) {
		if r.Form.Get("grant_type") == "refresh_token" {
			n++
		}
	}
	return n
}

// browser is a user agent with its own cookie jar.
type browser struct {
	jar      http.CookieJar
	follow   *http.Client // follows redirects
	noFollow *http.Client // stops at the first response
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{
		jar:    jar,
		follow: &http.Client{Jar: jar, Timeout: 10 * time.Second},
		noFollow: &http.Client{Jar: jar, Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
}

// response is a read and closed HTTP response.
type response struct {
	status   int
	location string
	body     string
	header   http.Header
	cookies  []*http.Cookie
}

func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header.Get("Location"), string(b), resp.Header, resp.Cookies()}
}

func get(t testing.TB, c *http.Client, u string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, c, req)
}

// get fetches path on the app with the default browser, following redirects.
func (a *testApp) get(t testing.TB, path string) (int, string) {
	t.Helper()
	r := get(t, a.browser.follow, a.app.URL+path)
	return r.status, r.body
}

// startLogin asks b to open /login?return_to=returnTo and returns the
// authorization URL the app redirected to.
func (a *testApp) startLogin(t testing.TB, b *browser, returnTo string) string {
	t.Helper()
	u := a.app.URL + "/login"
	if returnTo != "" {
		u += "?return_to=" + url.QueryEscape(returnTo)
	}
	r := get(t, b.noFollow, u)
	if r.status != http.StatusFound || r.location == "" {
		t.Fatalf("GET /login: %d %q %s", r.status, r.location, r.body)
	}
	return r.location
}

// authorize has b visit the provider and returns the callback URL the
// provider redirected to.
func (a *testApp) authorize(t testing.TB, b *browser, authURL string) string {
	t.Helper()
	r := get(t, b.noFollow, authURL)
	if r.status != http.StatusFound || !strings.HasPrefix(r.location, a.app.URL) {
		t.Fatalf("authorize: %d %q %s", r.status, r.location, r.body)
	}
	return r.location
}

// callbackURL runs a login up to the callback, not delivered yet.
func (a *testApp) callbackURL(t testing.TB, b *browser, returnTo string) string {
	t.Helper()
	return a.authorize(t, b, a.startLogin(t, b, returnTo))
}

// login logs b in and returns where the callback sent it.
func (a *testApp) login(t testing.TB, b *browser, returnTo string) string {
	t.Helper()
	r := get(t, b.noFollow, a.callbackURL(t, b, returnTo))
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s (err %v)", r.status, r.body, a.errs)
	}
	return r.location
}

// whoami fetches /me with b and decodes it; it fails unless b is logged in.
func (a *testApp) whoami(t testing.TB, b *browser) meResponse {
	t.Helper()
	r := get(t, b.noFollow, a.app.URL+"/me")
	if r.status != http.StatusOK {
		t.Fatalf("GET /me: %d %q %s", r.status, r.location, r.body)
	}
	var m meResponse
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("GET /me: %v: %s", err, r.body)
	}
	return m
}

// requireNoSession checks that b has no session: a page behind
// RequireLogin sends it to the login page.
func (a *testApp) requireNoSession(t testing.TB, b *browser) {
	t.Helper()
	r := get(t, b.noFollow, a.app.URL+"/me")
	if r.status != http.StatusFound || !strings.HasPrefix(r.location, "/login?return_to=") {
		t.Fatalf("GET /me without a session: %d %q, want a redirect to /login", r.status, r.location)
	}
}

// requireUnavailable checks that the app cannot tell whether b is logged
// in: a page behind RequireLogin answers 503 session_unavailable, neither
// the page nor a redirect to the login page.
func (a *testApp) requireUnavailable(t testing.TB, b *browser) {
	t.Helper()
	wantUnavailable(t, get(t, b.noFollow, a.app.URL+"/me"))
}

// wantUnavailable checks a 503 session_unavailable answer.
func wantUnavailable(t testing.TB, r response) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != "application/json" ||
		r.header.Get("Cache-Control") != "no-store" || strings.TrimSpace(r.body) != `{"error":"session_unavailable"}` {
		t.Fatalf("GET /me with the session unavailable: %d %q %q %s, want 503 session_unavailable", r.status, r.location, r.header.Get("Content-Type"), r.body)
	}
}

// refused delivers callback URL cb with b and checks the login failed with
// status and an error matching want, and left no session.
func (a *testApp) refused(t testing.TB, b *browser, cb string, status int, want error) {
	t.Helper()
	r := get(t, b.noFollow, cb)
	if r.status != status {
		t.Fatalf("callback: status %d, want %d: %s", r.status, status, r.body)
	}
	if err := a.lastError(t); !errors.Is(err, want) {
		t.Fatalf("callback error %v, want %v", err, want)
	}
	for _, c := range r.cookies {
		if c.Name == "keyway" && c.Value != "" {
			t.Fatalf("a refused callback set the session cookie")
		}
	}
	a.requireNoSession(t, b)
}

// withQuery returns u with its query parameters edited.
func withQuery(t testing.TB, u string, edit func(url.Values)) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	edit(q)
	p.RawQuery = q.Encode()
	return p.String()
}

// requestWithCookies makes a request to the app carrying b's cookies, for
// calling RP methods directly.
func (a *testApp) requestWithCookies(t testing.TB, b *browser, method, path string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, a.app.URL+path, nil)
	u, _ := url.Parse(a.app.URL)
	for _, c := range b.jar.Cookies(u) {
		req.AddCookie(c)
	}
	return req
}

// keepCookies stores the cookies a recorded response set into b's jar.
func (a *testApp) keepCookies(b *browser, rec *httptest.ResponseRecorder) {
	a.setCookies(b, rec.Result().Cookies())
}

// setCookies stores cookies for the app into b's jar.
func (a *testApp) setCookies(b *browser, cookies []*http.Cookie) {
	u, _ := url.Parse(a.app.URL)
	b.jar.SetCookies(u, cookies)
}

// tokenSpy records the provider's successful token responses, as an
// oidctest.Faults.TokenResponse that changes nothing.
type tokenSpy struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (s *tokenSpy) record(body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, maps.Clone(body))
}

// last returns member of the last token response.
func (s *tokenSpy) last(t testing.TB, member string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bodies) == 0 {
		t.Fatal("no token response yet")
	}
	v, _ := s.bodies[len(s.bodies)-1][member].(string)
	return v
}

// jwtClaims decodes the payload of a compact JWT without verifying it.
func jwtClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
