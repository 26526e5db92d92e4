package main

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// startQuickstart runs the quickstart on free loopback ports until the
// test ends; its log goes to the test's output.
func startQuickstart(t *testing.T) *quickstart {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	qs, err := start(t.Context(), "127.0.0.1:0", log)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(qs.Close)
	return qs
}

// TestQuickstartHTTP signs the demo user in with a plain HTTP client, the
// way a browser would, and calls the API through the web app.
func TestQuickstartHTTP(t *testing.T) {
	t.Parallel()
	qs := startQuickstart(t)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	user := oidctest.DemoUser

	// /login redirects to the provider's login form.
	status, page := get(t, c, qs.AppURL+"/login?return_to=/profile")
	if status != http.StatusOK {
		t.Fatalf("GET /login: status %d, want the provider's login form:\n%s", status, page)
	}
	action, request := loginForm(t, page)
	if !strings.HasPrefix(action, qs.Provider.URL+"/") {
		t.Fatalf("login form posts to %q, want the provider at %s", action, qs.Provider.URL)
	}

	// A wrong password shows the form again, with the problem.
	resp := postForm(t, c, action, url.Values{"request": {request}, "username": {user.Username}, "password": {"wrong"}})
	if resp.status != http.StatusUnauthorized || !strings.Contains(resp.body, "Wrong username or password.") {
		t.Fatalf("wrong password: status %d, want 401 and the problem on the form:\n%s", resp.status, resp.body)
	}
	if status, body := get(t, c, qs.AppURL+"/me"); status != http.StatusUnauthorized {
		t.Fatalf("GET /me after a wrong password: status %d, want 401: %s", status, body)
	}

	// The right one ends at /profile, through the callback.
	_, request = loginForm(t, resp.body)
	resp = postForm(t, c, action, url.Values{"request": {request}, "username": {user.Username}, "password": {user.Password}})
	if resp.status != http.StatusOK || resp.url != qs.AppURL+"/profile" {
		t.Fatalf("login: status %d at %s, want 200 at %s/profile:\n%s", resp.status, resp.url, qs.AppURL, resp.body)
	}
	if !strings.Contains(resp.body, `<span id="name">Ada Lovelace</span>`) {
		t.Errorf("/profile does not show the user's name:\n%s", resp.body)
	}

	me := getJSON(t, c, qs.AppURL+"/me", http.StatusOK)
	if me["sub"] != user.Subject || me["iss"] != qs.Provider.Issuer {
		t.Errorf("/me = %v, want sub %q and iss %q", me, user.Subject, qs.Provider.Issuer)
	}

	// /api relays the API's answer about the access token.
	api := getJSON(t, c, qs.AppURL+"/api", http.StatusOK)
	if api["sub"] != user.Subject || api["client_id"] != "quickstart" {
		t.Errorf("/api = %v, want sub %q and client_id quickstart", api, user.Subject)
	}
	if scope, _ := api["scope"].([]any); !slices.Contains(scope, any("openid")) {
		t.Errorf("/api scope = %v, want the granted scopes", api["scope"])
	}

	// Logout ends the session at the app and the provider, and comes back.
	resp = postForm(t, c, qs.AppURL+"/logout", nil)
	if resp.status != http.StatusOK || resp.url != qs.AppURL+"/" || !strings.Contains(resp.body, `id="login"`) {
		t.Fatalf("logout: status %d at %s, want the home page with the login link at %s/:\n%s", resp.status, resp.url, qs.AppURL, resp.body)
	}
	if got := getJSON(t, c, qs.AppURL+"/me", http.StatusUnauthorized); got["error"] != "login_required" {
		t.Errorf("/me after logout = %v, want login_required", got)
	}
}

// TestQuickstartBackchannelLogout has the provider post a back-channel
// logout token for one login's provider session (its sid, as /me shows
// it): the web app ends that session, and /me answers 401 login_required,
// while another browser's session, under another sid, goes on.
func TestQuickstartBackchannelLogout(t *testing.T) {
	t.Parallel()
	qs := startQuickstart(t)
	c, other := loggedIn(t, qs), loggedIn(t, qs)

	me := getJSON(t, c, qs.AppURL+"/me", http.StatusOK)
	claims, _ := me["claims"].(map[string]any)
	sid, _ := claims["sid"].(string)
	if sid == "" {
		t.Fatalf("/me claims have no sid: %v", me["claims"])
	}
	otherClaims, _ := getJSON(t, other, qs.AppURL+"/me", http.StatusOK)["claims"].(map[string]any)
	if otherClaims["sid"] == sid {
		t.Fatalf("two browsers got the same sid %q", sid)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := qs.Provider.SendBackchannelLogout(ctx, "quickstart", "", sid); err != nil {
		t.Fatalf("back-channel logout: %v", err)
	}
	if got := getJSON(t, c, qs.AppURL+"/me", http.StatusUnauthorized); got["error"] != "login_required" {
		t.Errorf("/me after back-channel logout = %v, want login_required", got)
	}
	if got := getJSON(t, other, qs.AppURL+"/me", http.StatusOK); got["sub"] != oidctest.DemoUser.Subject {
		t.Errorf("/me of the other browser = %v, want its session to go on", got)
	}
}

// loggedIn logs the demo user in over HTTP, in a new browser, and returns it.
func loggedIn(t *testing.T, qs *quickstart) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	status, page := get(t, c, qs.AppURL+"/login?return_to=/profile")
	if status != http.StatusOK {
		t.Fatalf("GET /login: status %d, want the provider's login form:\n%s", status, page)
	}
	action, request := loginForm(t, page)
	user := oidctest.DemoUser
	resp := postForm(t, c, action, url.Values{"request": {request}, "username": {user.Username}, "password": {user.Password}})
	if resp.status != http.StatusOK || resp.url != qs.AppURL+"/profile" {
		t.Fatalf("login: status %d at %s, want 200 at %s/profile:\n%s", resp.status, resp.url, qs.AppURL, resp.body)
	}
	return c
}

// TestQuickstartTakenAddress checks that the app moves to a free port when
// the asked one is taken, rather than failing to start.
func TestQuickstartTakenAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	qs, err := start(t.Context(), ln.Addr().String(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start on a taken address: %v", err)
	}
	defer qs.Close()
	if qs.AppURL == "http://"+ln.Addr().String() {
		t.Fatalf("AppURL %s is the taken address", qs.AppURL)
	}
	if status, body := get(t, http.DefaultClient, qs.AppURL+"/"); status != http.StatusOK {
		t.Fatalf("GET %s/: status %d: %s", qs.AppURL, status, body)
	}
}

func TestQuickstartPrintWelcome(t *testing.T) {
	t.Parallel()
	qs := startQuickstart(t)
	var b strings.Builder
	qs.PrintWelcome(&b)
	out := b.String()
	for _, want := range []string{
		qs.AppURL + "/",
		qs.APIURL + "/me",
		qs.Provider.Issuer,
		"username: " + oidctest.DemoUser.Username,
		"password: " + oidctest.DemoUser.Password,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("welcome text lacks %q:\n%s", want, out)
		}
	}
}

var (
	formAction   = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	requestField = regexp.MustCompile(`<input type="hidden" name="request" value="([^"]*)"`)
)

// loginForm returns the action and the hidden request field of the
// provider's login form.
func loginForm(t *testing.T, page string) (action, request string) {
	t.Helper()
	a, r := formAction.FindStringSubmatch(page), requestField.FindStringSubmatch(page)
	if a == nil || r == nil {
		t.Fatalf("no login form with a request field in:\n%s", page)
	}
	return html.UnescapeString(a[1]), html.UnescapeString(r[1])
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, string(b)
}

func getJSON(t *testing.T, c *http.Client, u string, wantStatus int) map[string]any {
	t.Helper()
	status, body := get(t, c, u)
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); status != wantStatus || err != nil {
		t.Fatalf("GET %s: status %d, want %d with JSON: %s", u, status, wantStatus, body)
	}
	return v
}

type response struct {
	status int
	url    string // after redirects
	body   string
}

func postForm(t *testing.T, c *http.Client, u string, form url.Values) response {
	t.Helper()
	r, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return response{status: r.StatusCode, url: r.Request.URL.String(), body: string(b)}
}
