package rp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// bob is a second user, for tests that need two.
var bob = oidctest.User{Subject: "bob", Username: "bob", Password: "builder", Claims: map[string]any{"name": "Bob"}}

// newInteractiveApp is newApp with a provider that asks who logs in, and
// knows ada and bob.
func newInteractiveApp(t testing.TB, c appConfig) *testApp {
	t.Helper()
	c.op.Interactive = true
	c.op.Users = []oidctest.User{oidctest.DemoUser, bob}
	return newApp(t, c)
}

var requestIDPattern = regexp.MustCompile(`name="request" value="([^"]+)"`)

// loginAs logs b in as user at a provider with an interactive login form.
func (a *testApp) loginAs(t testing.TB, b *browser, user oidctest.User) {
	t.Helper()
	r := get(t, b.noFollow, a.startLogin(t, b, "/"))
	m := requestIDPattern.FindStringSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("authorize: %d, no login form: %s", r.status, r.body)
	}
	form := url.Values{"request": {m[1]}, "username": {user.Username}, "password": {user.Password}}
	req, _ := http.NewRequest(http.MethodPost, a.op.Issuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r = do(t, b.noFollow, req)
	if r.status != http.StatusFound || !strings.HasPrefix(r.location, a.app.URL) {
		t.Fatalf("login form: %d %q %s", r.status, r.location, r.body)
	}
	if r = get(t, b.noFollow, r.location); r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
}

// sidOf returns the sid of b's session, from its ID token claims.
func (a *testApp) sidOf(t testing.TB, b *browser) string {
	t.Helper()
	sid, _ := a.whoami(t, b).Claims["sid"].(string)
	if sid == "" {
		t.Fatal("the session has no sid")
	}
	return sid
}

// logoutToken signs a logout token for the app client: LogoutClaims(sub,
// sid) edited by edit, typ logout+jwt unless opts says otherwise.
func (a *testApp) logoutToken(t testing.TB, sub, sid string, edit func(map[string]any), opts oidctest.SignOptions) string {
	t.Helper()
	claims := a.op.LogoutClaims("app", sub, sid)
	if edit != nil {
		edit(claims)
	}
	if opts.Type == "" {
		opts.Type = "logout+jwt"
	}
	tok, err := a.op.Sign(claims, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// postLogout posts body to url as the provider's server would: no cookies.
func postLogout(t testing.TB, u, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return do(t, http.DefaultClient, req)
}

// postLogoutToken posts tok to the app's back-channel logout endpoint.
func (a *testApp) postLogoutToken(t testing.TB, tok string) response {
	t.Helper()
	return postLogout(t, a.app.URL+"/backchannel-logout", "application/x-www-form-urlencoded", url.Values{"logout_token": {tok}}.Encode())
}

// accepted checks a 200 answer with Cache-Control: no-store.
func accepted(t testing.TB, r response) {
	t.Helper()
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout: %d (Cache-Control %q) %s, want 200 no-store", r.status, r.header.Get("Cache-Control"), r.body)
	}
}

// refused checks a 400 answer with an invalid_request JSON body whose
// error_description contains want.
func refusedLogout(t testing.TB, r response, want string) {
	t.Helper()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if r.status != http.StatusBadRequest {
		t.Fatalf("back-channel logout: %d %s, want 400", r.status, r.body)
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Error != "invalid_request" ||
		r.header.Get("Content-Type") != "application/json" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("back-channel logout 400: %q %q %s, want an invalid_request JSON body, no-store", r.header.Get("Content-Type"), r.header.Get("Cache-Control"), r.body)
	}
	if !strings.Contains(body.Description, want) {
		t.Fatalf("error_description %q, want it to contain %q", body.Description, want)
	}
}

// TestBackchannelLogoutBySID: a token naming a sid ends the sessions of
// that provider session only; one begun after it is accepted.
func TestBackchannelLogoutBySID(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b1, b2 := a.browser, newBrowser(t)
	a.login(t, b1, "/")
	a.login(t, b2, "/")
	sid := a.sidOf(t, b1)
	if a.sidOf(t, b2) == sid {
		t.Fatal("two browsers share a provider session")
	}
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", sid, nil, oidctest.SignOptions{})))
	a.requireNoSession(t, b1)
	a.whoami(t, b2) // another provider session of the same user stays

	// The provider session lives on (the provider was not asked to end
	// it): logging in again gets the same sid, in a newer session.
	a.login(t, b1, "/")
	if got := a.sidOf(t, b1); got != sid {
		t.Fatalf("sid after logging in again: %q, want %q", got, sid)
	}
}

// TestBackchannelLogoutBySubject: a token without sid ends every session
// of its sub, and no other user's.
func TestBackchannelLogoutBySubject(t *testing.T) {
	t.Parallel()
	a := newInteractiveApp(t, appConfig{})
	ada1, ada2, bobs := a.browser, newBrowser(t), newBrowser(t)
	a.loginAs(t, ada1, oidctest.DemoUser)
	a.loginAs(t, ada2, oidctest.DemoUser)
	a.loginAs(t, bobs, bob)
	if sub := a.whoami(t, bobs).Sub; sub != "bob" {
		t.Fatalf("second user is %q", sub)
	}
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})))
	a.requireNoSession(t, ada1)
	a.requireNoSession(t, ada2)
	a.whoami(t, bobs)

	a.login(t, ada1, "/") // the provider session lives on: no form
	if sub := a.whoami(t, ada1).Sub; sub != "ada" {
		t.Fatalf("logged in again as %q", sub)
	}
}

// TestBackchannelLogoutAccepted lists valid tokens beyond the plainest.
func TestBackchannelLogoutAccepted(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) { c.ExtraAudiences = []string{"api"} })
	for _, tt := range []struct {
		name   string
		claims func(map[string]any)
		opts   oidctest.SignOptions
		noTyp  bool
	}{
		{name: "no typ", noTyp: true},
		{name: "typ application/logout+jwt", opts: oidctest.SignOptions{Type: "application/logout+jwt"}},
		{name: "typ in capitals", opts: oidctest.SignOptions{Type: "Logout+JWT"}},
		{name: "ES256", opts: oidctest.SignOptions{Alg: oidctest.ES256}},
		{name: "EdDSA", opts: oidctest.SignOptions{Alg: oidctest.EdDSA}},
		{name: "aud array", claims: func(c map[string]any) { c["aud"] = []string{"app"} }},
		{name: "trusted extra aud", claims: func(c map[string]any) { c["aud"] = []string{"app", "api"} }},
		{name: "sub and sid", claims: func(c map[string]any) { c["sub"] = "ada" }},
		{name: "sid only"},
		{name: "no exp, fresh iat", claims: func(c map[string]any) { delete(c, "exp") }},
		{name: "iat within leeway ahead", claims: func(c map[string]any) {
			c["iat"] = time.Now().Add(30 * time.Second).Unix()
		}},
		{name: "other events too", claims: func(c map[string]any) {
			c["events"] = map[string]any{oidctest.BackchannelLogoutEvent: map[string]any{"x": 1}, "urn:other": true}
		}},
		{name: "unknown claims", claims: func(c map[string]any) { c["urn:extra"] = []int{1} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			a.login(t, b, "/")
			claims := a.op.LogoutClaims("app", "", a.sidOf(t, b))
			if tt.claims != nil {
				tt.claims(claims)
			}
			opts := tt.opts
			if opts.Type == "" && !tt.noTyp {
				opts.Type = "logout+jwt"
			}
			tok, err := a.op.Sign(claims, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noTyp && strings.Contains(jwtHeader(t, tok), "typ") {
				t.Fatalf("token has a typ: %s", jwtHeader(t, tok))
			}
			accepted(t, a.postLogoutToken(t, tok))
			a.requireNoSession(t, b)
		})
	}
}

// TestBackchannelLogoutInvalidToken: every broken token is refused with
// 400, for the reason its case breaks, and the session stays.
func TestBackchannelLogoutInvalidToken(t *testing.T) {
	t.Parallel()
	spy := &tokenSpy{}
	log := &errorLog{}
	a := newApp(t, appConfig{
		faults: oidctest.Faults{TokenResponse: spy.record},
		edit:   func(c *rp.Config) { c.Logger = slog.New(log) },
	})
	b := a.browser
	a.login(t, b, "/")
	sid := a.sidOf(t, b)
	now := time.Now()
	for _, tt := range []struct {
		name   string
		claims func(map[string]any)
		opts   oidctest.SignOptions
		token  func(valid string) string // replaces the signed token
		want   string                    // in error_description
		is     error                     // matched besides ErrInvalidLogoutToken
	}{
		{name: "bad signature", token: corruptSignature, want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "alg none", opts: oidctest.SignOptions{Alg: oidctest.None}, want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "HS256, not listed", opts: oidctest.SignOptions{Alg: oidctest.HS256, HMACKey: []byte("app-secret")}, want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "unknown kid", opts: oidctest.SignOptions{Header: map[string]any{"kid": "nope"}}, want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "wrong iss", claims: func(c map[string]any) { c["iss"] = a.op.Issuer + "/other" }, want: "issuer mismatch", is: rp.ErrIssuerMismatch},
		{name: "iss missing", claims: func(c map[string]any) { delete(c, "iss") }, want: "issuer mismatch", is: rp.ErrIssuerMismatch},
		{name: "wrong aud", claims: func(c map[string]any) { c["aud"] = "other" }, want: "does not name this client"},
		{name: "extra untrusted aud", claims: func(c map[string]any) { c["aud"] = []string{"app", "other"} }, want: "untrusted audience"},
		{name: "aud missing", claims: func(c map[string]any) { delete(c, "aud") }, want: "aud is missing"},
		{name: "iat missing", claims: func(c map[string]any) { delete(c, "iat") }, want: "iat is missing"},
		{name: "iat in the future", claims: func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(5*time.Minute).Unix(), now.Add(7*time.Minute).Unix()
		}, want: "iat is in the future"},
		{name: "expired", claims: func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-5*time.Minute).Unix(), now.Add(-2*time.Minute).Unix()
		}, want: "expired"},
		{name: "no exp, iat too old", claims: func(c map[string]any) {
			delete(c, "exp")
			c["iat"] = now.Add(-4 * time.Minute).Unix()
		}, want: "expired"},
		{name: "far exp, iat too old", claims: func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-15*time.Minute).Unix(), now.Add(time.Hour).Unix()
		}, want: "expired"},
		{name: "events missing", claims: func(c map[string]any) { delete(c, "events") }, want: "events is missing"},
		{name: "events not an object", claims: func(c map[string]any) {
			c["events"] = []string{oidctest.BackchannelLogoutEvent}
		}, want: "events is missing or not an object"},
		{name: "events without the back-channel event", claims: func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}, want: "has no"},
		{name: "event member a string", claims: func(c map[string]any) {
			c["events"] = map[string]any{oidctest.BackchannelLogoutEvent: "yes"}
		}, want: "event is not an object"},
		{name: "event member null", claims: func(c map[string]any) {
			c["events"] = map[string]any{oidctest.BackchannelLogoutEvent: nil}
		}, want: "event is not an object"},
		{name: "neither sid nor sub", claims: func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }, want: "neither sid nor sub"},
		{name: "empty sid and sub", claims: func(c map[string]any) { c["sid"], c["sub"] = "", "" }, want: "neither sid nor sub"},
		{name: "nonce present", claims: func(c map[string]any) { c["nonce"] = "n" }, want: "nonce is present"},
		{name: "nonce null", claims: func(c map[string]any) { c["nonce"] = nil }, want: "nonce is present"},
		{name: "jti missing", claims: func(c map[string]any) { delete(c, "jti") }, want: "jti is missing"},
		{name: "sid not a string", claims: func(c map[string]any) { c["sid"] = 42 }, want: "malformed claims"},
		{name: "typ JWT", opts: oidctest.SignOptions{Type: "JWT"}, want: `typ "JWT"`},
		{name: "typ at+jwt", opts: oidctest.SignOptions{Type: "at+jwt"}, want: `typ "at+jwt"`},
		{name: "crit unknown", opts: oidctest.SignOptions{Header: map[string]any{"crit": []string{"urn:x"}, "urn:x": 1}}, want: "critical"},
		// go-jose understands b64, so only the RP's own rule refuses it.
		{name: "crit b64", opts: oidctest.SignOptions{Header: map[string]any{"crit": []string{"b64"}, "b64": true}}, want: "critical"},
		{name: "an ID token", token: func(string) string { return spy.last(t, "id_token") }, want: `typ "JWT"`},
		{name: "an access token", token: func(string) string { return spy.last(t, "access_token") }, want: `typ "at+jwt"`},
		{name: "not a JWT", token: func(string) string { return "not-a-jwt" }, want: "not a compact JWT"},
		{name: "JWS JSON serialization", token: func(string) string { return `{"payload":"e30","signatures":[]}` }, want: "not a compact JWT"},
		{name: "header not base64", token: func(v string) string { return "!!" + v[strings.IndexByte(v, '.'):] }, want: "malformed header"},
		{name: "header not JSON", token: func(v string) string { return "bm9wZQ" + v[strings.IndexByte(v, '.'):] }, want: "malformed header"},
		{name: "empty", token: func(string) string { return "" }, want: "not a compact JWT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			claims := a.op.LogoutClaims("app", "ada", sid)
			if tt.claims != nil {
				tt.claims(claims)
			}
			opts := tt.opts
			if opts.Type == "" {
				opts.Type = "logout+jwt"
			}
			tok, err := a.op.Sign(claims, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != nil {
				tok = tt.token(tok)
			}
			refusedLogout(t, a.postLogoutToken(t, tok), tt.want)
			err = log.last(t)
			if !errors.Is(err, rp.ErrInvalidLogoutToken) || tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("error %v, want %v and %v", err, rp.ErrInvalidLogoutToken, tt.is)
			}
			if strings.Count(err.Error(), "rp:") != 1 {
				t.Fatalf("error %q has several rp: prefixes", err)
			}
			a.whoami(t, b) // the session stays
		})
	}
	// The same token, well formed, is accepted: the cases above failed
	// for their own reason.
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", sid, nil, oidctest.SignOptions{})))
	a.requireNoSession(t, b)
}

// TestBackchannelLogoutInvalidRequest: requests that carry no usable token.
func TestBackchannelLogoutInvalidRequest(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	a.login(t, b, "/")
	valid := func() string { return a.logoutToken(t, "", a.sidOf(t, b), nil, oidctest.SignOptions{}) }
	endpoint := a.app.URL + "/backchannel-logout"
	const form = "application/x-www-form-urlencoded"
	for _, tt := range []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"GET", func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, endpoint+"?logout_token="+valid(), nil)
			return req
		}, "method GET"},
		{"PUT", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPut, endpoint, strings.NewReader("logout_token="+valid()))
			req.Header.Set("Content-Type", form)
			return req
		}, "method PUT"},
		{"no logout_token", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("token="+valid()))
			req.Header.Set("Content-Type", form)
			return req
		}, "logout_token is missing"},
		{"logout_token in the query only", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, endpoint+"?logout_token="+valid(), strings.NewReader(""))
			req.Header.Set("Content-Type", form)
			return req
		}, "logout_token is missing"},
		{"logout_token twice", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("logout_token="+valid()+"&logout_token="+valid()))
			req.Header.Set("Content-Type", form)
			return req
		}, "logout_token is repeated"},
		{"JSON body", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"logout_token":"`+valid()+`"}`))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, "Content-Type"},
		{"no Content-Type", func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("logout_token="+valid()))
			return req
		}, "Content-Type"},
		{"oversized body", func() *http.Request {
			body := "logout_token=" + valid() + "&pad=" + strings.Repeat("a", 64<<10)
			req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
			req.Header.Set("Content-Type", form)
			return req
		}, "too large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, http.DefaultClient, tt.req())
			refusedLogout(t, r, tt.want)
			if r.location != "" {
				t.Fatalf("redirected to %q", r.location)
			}
			a.whoami(t, b)
		})
	}
	// Content-Type parameters are fine.
	r := postLogout(t, endpoint, form+"; charset=utf-8", url.Values{"logout_token": {valid()}}.Encode())
	accepted(t, r)
	a.requireNoSession(t, b)
}

// TestBackchannelLogoutReplay: a token is accepted once; another token
// for the same session is still accepted. A replay after the user logged
// in again must not end the new session.
func TestBackchannelLogoutReplay(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	a.login(t, b, "/")
	tok := a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})
	accepted(t, a.postLogoutToken(t, tok))
	a.requireNoSession(t, b)

	a.login(t, b, "/")
	refusedLogout(t, a.postLogoutToken(t, tok), "replay")
	a.whoami(t, b) // the new session stays

	// Another token (another jti) for the same user is a new logout.
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})))
	a.requireNoSession(t, b)
}

// TestBackchannelLogoutReplicas: two RPs sharing session keys and one
// cache, as replicas of an app do. The logout received by one ends the
// session on the other, and a replay to the other is refused.
func TestBackchannelLogoutReplicas(t *testing.T) {
	t.Parallel()
	shared := &rp.MemoryCache{}
	var cfg rp.Config
	a := newApp(t, appConfig{edit: func(c *rp.Config) {
		c.ReplayCache = shared // Logouts defaults to it: it is a LogoutList too
		cfg = *c
	}})
	replica, err := rp.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(replica.BackchannelLogout))
	t.Cleanup(srv.Close)
	onReplica := func(b *browser) int {
		rec := httptest.NewRecorder()
		replica.RequireLogin("", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, a.requestWithCookies(t, b, http.MethodGet, "/me"))
		return rec.Code
	}

	b, other := a.browser, newBrowser(t)
	a.login(t, b, "/")
	a.login(t, other, "/")
	if code := onReplica(b); code != http.StatusOK {
		t.Fatalf("the replica does not accept the session: %d", code)
	}
	sid := a.sidOf(t, b)
	tok := a.logoutToken(t, "", sid, nil, oidctest.SignOptions{})
	accepted(t, a.postLogoutToken(t, tok)) // received by A
	if code := onReplica(b); code != http.StatusFound {
		t.Fatalf("the replica still accepts the session: %d", code)
	}
	if code := onReplica(other); code != http.StatusOK {
		t.Fatalf("the replica refuses another session: %d", code)
	}
	refusedLogout(t, postLogout(t, srv.URL, "application/x-www-form-urlencoded", url.Values{"logout_token": {tok}}.Encode()), "replay")

	// And the other way round, through the provider.
	if err := a.op.AddClient(oidctest.Client{ID: "app", Secret: "app-secret",
		RedirectURIs: []string{a.app.URL + "/callback"}, BackchannelLogoutURI: srv.URL}); err != nil {
		t.Fatal(err)
	}
	if err := a.op.SendBackchannelLogout(context.Background(), "app", "", a.sidOf(t, other)); err != nil {
		t.Fatal(err)
	}
	a.requireNoSession(t, other)
}

// errorLog is a slog.Handler keeping the errors logged.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *errorLog) WithGroup(string) slog.Handler            { return l }

func (l *errorLog) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			l.mu.Lock()
			l.errs = append(l.errs, err)
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

// last returns the last error logged.
func (l *errorLog) last(t testing.TB) error {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		t.Fatal("no error was logged")
	}
	return l.errs[len(l.errs)-1]
}

// jwtHeader returns the decoded JOSE header of a compact JWT.
func jwtHeader(t testing.TB, jwt string) string {
	t.Helper()
	h, _, _ := strings.Cut(jwt, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// corruptSignature flips one bit of a compact JWS's signature.
func corruptSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		return tok + "x"
	}
	sig[len(sig)/2] ^= 1
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}
