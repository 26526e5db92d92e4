package oidctest_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// TestAuthorizeErrorPage checks the requests whose redirect URI cannot be
// trusted: the user sees an error page and is not sent anywhere.
func TestAuthorizeErrorPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(url.Values)
		code string
	}{
		{"unknown client", func(p url.Values) { p.Set("client_id", "nobody") }, "invalid_client"},
		{"no client_id", func(p url.Values) { p.Del("client_id") }, "invalid_client"},
		{"unregistered redirect_uri", func(p url.Values) { p.Set("redirect_uri", "http://127.0.0.1:9/evil") }, "invalid_request"},
		{"redirect_uri with another path suffix", func(p url.Values) { p.Set("redirect_uri", redirectURI+"/") }, "invalid_request"},
		{"no redirect_uri", func(p url.Values) { p.Del("redirect_uri") }, "invalid_request"},
		// An unusable redirect URI wins over every other problem.
		{"bad redirect_uri and bad response_type", func(p url.Values) {
			p.Set("redirect_uri", "http://127.0.0.1:9/evil")
			p.Set("response_type", "token")
		}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			tt.edit(params)
			res := getAuthorize(t, srv, newBrowser(t), params)
			wantErrorPage(t, res, tt.code)
		})
	}
}

// wantErrorPage checks for a 400 HTML error page naming code, without a
// redirect.
func wantErrorPage(t testing.TB, res response, code string) {
	t.Helper()
	if res.status != http.StatusBadRequest {
		t.Errorf("status = %d, want 400; body: %s", res.status, res.body)
	}
	if loc := res.header.Get("Location"); loc != "" {
		t.Errorf("redirected to %s, want no redirect", loc)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if !strings.Contains(string(res.body), "<h1>"+code+"</h1>") {
		t.Errorf("error page does not name %s: %s", code, res.body)
	}
}

// TestAuthorizeErrorRedirect checks the errors sent back to a registered
// redirect URI, with state and iss.
func TestAuthorizeErrorRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(url.Values)
		code string
	}{
		{"response_type token", set("response_type", "token"), "unsupported_response_type"},
		{"response_type code id_token", set("response_type", "code id_token"), "unsupported_response_type"},
		{"no response_type", del("response_type"), "unsupported_response_type"},
		{"no code_challenge", del("code_challenge"), "invalid_request"},
		{"plain method", set("code_challenge_method", "plain"), "invalid_request"},
		{"no method means plain", del("code_challenge_method"), "invalid_request"},
		{"challenge too short", set("code_challenge", strings.Repeat("A", 42)), "invalid_request"},
		{"challenge too long", set("code_challenge", strings.Repeat("A", 44)), "invalid_request"},
		{"challenge with padding", set("code_challenge", strings.Repeat("A", 42)+"="), "invalid_request"},
		{"challenge in standard base64", set("code_challenge", strings.Repeat("A", 41)+"+/"), "invalid_request"},
		{"response_mode fragment", set("response_mode", "fragment"), "invalid_request"},
		{"response_mode jwt", set("response_mode", "jwt"), "invalid_request"},
		{"negative max_age", set("max_age", "-1"), "invalid_request"},
		{"max_age not a number", set("max_age", "1h"), "invalid_request"},
		{"relative resource", set("resource", "/api"), "invalid_target"},
		{"resource with fragment", set("resource", "https://api.example.com/#x"), "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			tt.edit(params)
			q := authorize(t, srv, params)
			want := url.Values{"error": {tt.code}, "state": {defaultState}, "iss": {srv.Issuer}}
			for k, v := range want {
				if q.Get(k) != v[0] {
					t.Errorf("%s = %q, want %q (response %v)", k, q.Get(k), v[0], q)
				}
			}
			if q.Has("code") {
				t.Errorf("error response carries a code: %v", q)
			}
			if q.Get("error_description") == "" {
				t.Errorf("no error_description: %v", q)
			}
		})
	}
}

func set(k, v string) func(url.Values) { return func(p url.Values) { p.Set(k, v) } }
func del(k string) func(url.Values)    { return func(p url.Values) { p.Del(k) } }

func TestAuthorizeSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(url.Values)
		params []string // exactly the parameters of the response
	}{
		{"query", func(url.Values) {}, []string{"code", "iss", "state"}},
		{"response_mode query", set("response_mode", "query"), []string{"code", "iss", "state"}},
		{"no state", del("state"), []string{"code", "iss"}},
		{"max_age", set("max_age", "0"), []string{"code", "iss", "state"}},
		{"absolute resources", func(p url.Values) {
			p["resource"] = []string{"https://api.example.com/", "urn:example:api"}
		}, []string{"code", "iss", "state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			tt.edit(params)
			q := authorize(t, srv, params)
			if got := sortedKeys(valuesAsMap(q)); strings.Join(got, " ") != strings.Join(tt.params, " ") {
				t.Errorf("response parameters %v, want %v", got, tt.params)
			}
			if q.Get("code") == "" || q.Get("iss") != srv.Issuer || q.Get("state") != params.Get("state") {
				t.Errorf("response %v: want a code, iss %s, state %q", q, srv.Issuer, params.Get("state"))
			}
		})
	}
}

func TestAuthorizeByPOST(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	pk := newPKCE()
	res, err := newBrowser(t).PostForm(srv.Issuer+"/authorize", authParams(appID, pk))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	q := redirectParams(t, response{status: res.StatusCode, header: res.Header})
	exchange(t, srv, appAuth, q.Get("code"), pk.verifier)
}

func TestAuthorizeKeepsRedirectQuery(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Clients: []oidctest.Client{{
		ID: appID, Secret: appSecret, RedirectURIs: []string{redirectURI + "?tenant=x"},
	}}})
	params := authParams(appID, newPKCE())
	params.Set("redirect_uri", redirectURI+"?tenant=x")
	q := authorize(t, srv, params)
	if q.Get("tenant") != "x" || q.Get("code") == "" {
		t.Errorf("response %v: want the registered tenant=x and a code", q)
	}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

func TestAuthorizeFormPost(t *testing.T) {
	t.Parallel()
	const evilState = `"><script>alert(1)</script>`
	tests := []struct {
		name   string
		edit   func(url.Values)
		params []string
	}{
		{"code", func(url.Values) {}, []string{"code", "iss", "state"}},
		{"error", set("code_challenge_method", "plain"), []string{"error", "error_description", "iss", "state"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			pk := newPKCE()
			params := authParams(appID, pk)
			params.Set("response_mode", "form_post")
			params.Set("state", evilState)
			tt.edit(params)
			res := getAuthorize(t, srv, newBrowser(t), params)
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, want 200; body: %s", res.status, res.body)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			if cc := res.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			body := string(res.body)
			if strings.Contains(body, "<script>") {
				t.Errorf("state is not HTML-escaped: %s", body)
			}
			if !strings.Contains(body, `<form method="post" action="`+redirectURI+`">`) {
				t.Errorf("no form posting to %s: %s", redirectURI, body)
			}
			got := url.Values{}
			for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
				got.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
			}
			if keys := sortedKeys(valuesAsMap(got)); strings.Join(keys, " ") != strings.Join(tt.params, " ") {
				t.Fatalf("posted fields %v, want %v", keys, tt.params)
			}
			if got.Get("state") != evilState || got.Get("iss") != srv.Issuer {
				t.Errorf("posted state %q iss %q, want %q and %s", got.Get("state"), got.Get("iss"), evilState, srv.Issuer)
			}
			if got.Has("code") {
				exchange(t, srv, appAuth, got.Get("code"), pk.verifier)
			}
		})
	}
}

func valuesAsMap(v url.Values) map[string]any {
	m := make(map[string]any, len(v))
	for k, vs := range v {
		m[k] = vs
	}
	return m
}

func TestPromptNoneWithoutSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Interactive: true})
	params := authParams(appID, newPKCE())
	params.Set("prompt", "none")
	q := authorize(t, srv, params)
	if q.Get("error") != "login_required" || q.Get("state") != defaultState || q.Get("iss") != srv.Issuer {
		t.Errorf("response %v, want login_required with state and iss", q)
	}
}

// TestSessionReuse checks single sign-on: a second authorization from the
// same browser reuses the server's session unless the request asks for a
// fresh login.
func TestSessionReuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		elapsed time.Duration
		edit    func(url.Values)
		reauth  bool
	}{
		{"plain second authorization", 30 * time.Second, func(url.Values) {}, false},
		{"prompt=none", 30 * time.Second, set("prompt", "none"), false},
		{"prompt=login", 30 * time.Second, set("prompt", "login"), true},
		{"within max_age", 30 * time.Second, set("max_age", "60"), false},
		{"at max_age", 60 * time.Second, set("max_age", "60"), false},
		{"past max_age", 61 * time.Second, set("max_age", "60"), true},
		{"max_age=0", time.Second, set("max_age", "0"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			browser := newBrowser(t)
			first := verifyJWT(t, srv, loginAs(t, srv, browser, authParams(appID, newPKCE())).IDToken)
			if num(t, first, "auth_time") != clk.Now().Unix() {
				t.Fatalf("auth_time = %d, want now %d", num(t, first, "auth_time"), clk.Now().Unix())
			}
			clk.Advance(tt.elapsed)
			params := authParams(appID, newPKCE())
			tt.edit(params)
			second := verifyJWT(t, srv, loginAs(t, srv, browser, params).IDToken)

			authTime := num(t, second, "auth_time")
			if tt.reauth {
				if authTime != clk.Now().Unix() {
					t.Errorf("auth_time = %d, want a new login at %d", authTime, clk.Now().Unix())
				}
				return
			}
			if authTime != num(t, first, "auth_time") {
				t.Errorf("auth_time = %d, want the first login's %d", authTime, num(t, first, "auth_time"))
			}
			if second["sid"] != first["sid"] || first["sid"] == nil {
				t.Errorf("sid = %v, want the first login's %v", second["sid"], first["sid"])
			}
		})
	}
}

func TestSessionIsPerBrowser(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	a := verifyJWT(t, srv, login(t, srv, nil).IDToken)
	b := verifyJWT(t, srv, login(t, srv, nil).IDToken)
	if a["sid"] == b["sid"] {
		t.Errorf("two browsers share sid %v", a["sid"])
	}
}

// TestSessionUnderIssuerPath checks that the session cookie is sent back to
// an issuer with a path.
func TestSessionUnderIssuerPath(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{IssuerPath: "/tenant-a"})
	browser := newBrowser(t)
	first := verifyJWT(t, srv, loginAs(t, srv, browser, authParams(appID, newPKCE())).IDToken)
	params := authParams(appID, newPKCE())
	params.Set("prompt", "none")
	second := verifyJWT(t, srv, loginAs(t, srv, browser, params).IDToken)
	if second["sid"] != first["sid"] {
		t.Errorf("sid = %v, want the first login's %v", second["sid"], first["sid"])
	}
}

func TestInteractiveLogin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		users              []oidctest.User
		username, password string
		sub, hint          string
	}{
		{"demo user", nil, "ada", "lovelace", "ada", "Demo account: ada / lovelace"},
		{"configured users", []oidctest.User{
			{Subject: "u-1", Username: "grace", Password: "hopper"},
			{Subject: "u-2", Username: "alan", Password: "turing"},
		}, "alan", "turing", "u-2", "Demo account: grace / hopper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{Interactive: true, Users: tt.users})
			browser := newBrowser(t)
			pk := newPKCE()

			form := getAuthorize(t, srv, browser, authParams(appID, pk))
			if form.status != http.StatusOK || form.header.Get("Location") != "" {
				t.Fatalf("status %d, Location %q: want the login form", form.status, form.header.Get("Location"))
			}
			body := string(form.body)
			if !strings.Contains(body, tt.hint) || !strings.Contains(body, `action="`+srv.Issuer+`/login"`) {
				t.Errorf("login form lacks the hint %q or the action: %s", tt.hint, body)
			}
			id := loginFormID(t, form)

			wrong := submitLogin(t, srv, browser, id, tt.username, tt.password+"x")
			if wrong.status != http.StatusUnauthorized || !strings.Contains(string(wrong.body), "Wrong username or password.") {
				t.Errorf("wrong password: status %d, want 401 and the form again: %s", wrong.status, wrong.body)
			}
			if got := loginFormID(t, wrong); got != id {
				t.Errorf("form after a wrong password has request %q, want %q", got, id)
			}
			if other := submitLogin(t, srv, browser, id, "grace", tt.password); other.status != http.StatusUnauthorized {
				t.Errorf("another user's name with this password: status %d, want 401", other.status)
			}

			q := redirectParams(t, submitLogin(t, srv, browser, id, tt.username, tt.password))
			if q.Get("state") != defaultState || q.Get("iss") != srv.Issuer {
				t.Errorf("response %v, want state and iss", q)
			}
			claims := verifyJWT(t, srv, exchange(t, srv, appAuth, q.Get("code"), pk.verifier).IDToken)
			if claims["sub"] != tt.sub {
				t.Errorf("sub = %v, want %s", claims["sub"], tt.sub)
			}

			// The login started a session: prompt=none now succeeds.
			params := authParams(appID, newPKCE())
			params.Set("prompt", "none")
			if q := redirectParams(t, getAuthorize(t, srv, browser, params)); q.Get("code") == "" {
				t.Errorf("prompt=none after login: %v, want a code", q)
			}
		})
	}
}

func TestInteractiveLoginRejectsRequest(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Interactive: true})
	browser := newBrowser(t)
	id := loginFormID(t, getAuthorize(t, srv, browser, authParams(appID, newPKCE())))
	redirectParams(t, submitLogin(t, srv, browser, id, "ada", "lovelace"))

	tests := []struct {
		name, id string
	}{
		{"unknown request", "nope"},
		{"no request", ""},
		{"used request", id},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrorPage(t, submitLogin(t, srv, newBrowser(t), tt.id, "ada", "lovelace"), "invalid_request")
		})
	}
	t.Run("GET", func(t *testing.T) {
		if res := get(t, browser, srv.Issuer+"/login"); res.status != http.StatusMethodNotAllowed {
			t.Errorf("status = %d, want 405", res.status)
		}
	})
}

// TestInteractiveReauthentication checks which requests show the login
// form despite a session, with a clock that has not moved since the login.
func TestInteractiveReauthentication(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(url.Values)
		form bool
	}{
		{"plain", func(url.Values) {}, false},
		{"prompt=none", set("prompt", "none"), false},
		{"max_age=1", set("max_age", "1"), false},
		{"prompt=login", set("prompt", "login"), true},
		{"max_age=0", set("max_age", "0"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Interactive: true, Now: clk.Now})
			browser := newBrowser(t)
			id := loginFormID(t, getAuthorize(t, srv, browser, authParams(appID, newPKCE())))
			redirectParams(t, submitLogin(t, srv, browser, id, "ada", "lovelace"))

			params := authParams(appID, newPKCE())
			tt.edit(params)
			res := getAuthorize(t, srv, browser, params)
			if tt.form {
				loginFormID(t, res)
			} else {
				redirectParams(t, res)
			}
		})
	}
}
