package rp_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// hookCall is one call of an rp.Hooks function.
type hookCall struct {
	hook   string
	reason string // LoginFailed only
	err    error
}

// hookLog records the calls of the hooks it makes.
type hookLog struct {
	mu    sync.Mutex
	calls []hookCall
}

func (l *hookLog) add(ctx context.Context, c hookCall) {
	if ctx == nil {
		c.hook += " (nil context)"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// hooks returns rp.Hooks with every hook set, recording into l.
func (l *hookLog) hooks() rp.Hooks {
	return rp.Hooks{
		LoginStarted:   func(ctx context.Context) { l.add(ctx, hookCall{hook: "LoginStarted"}) },
		LoginSucceeded: func(ctx context.Context) { l.add(ctx, hookCall{hook: "LoginSucceeded"}) },
		LoginFailed: func(ctx context.Context, reason string, err error) {
			l.add(ctx, hookCall{hook: "LoginFailed", reason: reason, err: err})
		},
		Refreshed:          func(ctx context.Context, err error) { l.add(ctx, hookCall{hook: "Refreshed", err: err}) },
		LoggedOut:          func(ctx context.Context) { l.add(ctx, hookCall{hook: "LoggedOut"}) },
		BackchannelLogout:  func(ctx context.Context, err error) { l.add(ctx, hookCall{hook: "BackchannelLogout", err: err}) },
		FrontchannelLogout: func(ctx context.Context, err error) { l.add(ctx, hookCall{hook: "FrontchannelLogout", err: err}) },
	}
}

// take returns the calls recorded so far and forgets them.
func (l *hookLog) take() []hookCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// expect takes the calls recorded so far and checks that each hook was
// called exactly as often as want says (absent: never); it returns them.
func (l *hookLog) expect(t testing.TB, want map[string]int) []hookCall {
	t.Helper()
	calls := l.take()
	got := map[string]int{}
	for _, c := range calls {
		got[c.hook]++
	}
	if !maps.Equal(got, want) {
		t.Fatalf("hook calls %v, want %v", got, want)
	}
	return calls
}

// withHooks returns an appConfig edit that sets the RP's hooks from l,
// after edit.
func withHooks(l *hookLog, edit func(*rp.Config)) func(*rp.Config) {
	return func(c *rp.Config) {
		if edit != nil {
			edit(c)
		}
		c.Hooks = l.hooks()
	}
}

func TestHooksLoginSucceeded(t *testing.T) {
	t.Parallel()
	l := &hookLog{}
	a := newApp(t, appConfig{edit: withHooks(l, nil)})
	a.login(t, a.browser, "/")
	l.expect(t, map[string]int{"LoginStarted": 1, "LoginSucceeded": 1})
	a.whoami(t, a.browser) // using the session calls no hook
	other := newBrowser(t)
	a.login(t, other, "/")
	a.login(t, a.browser, "/")
	l.expect(t, map[string]int{"LoginStarted": 2, "LoginSucceeded": 2})
}

// brokenStore is a session store that has no sessions and cannot save.
type brokenStore struct{}

func (s brokenStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return s.New(r, name)
}

func (s brokenStore) New(_ *http.Request, name string) (*sessions.Session, error) {
	ss := sessions.NewSession(s, name)
	ss.IsNew = true
	return ss, nil
}

func (brokenStore) Save(*http.Request, http.ResponseWriter, *sessions.Session) error {
	return errors.New("stand-in store failure")
}

// plantTransaction seals fields as the login transaction of state into a
// cookie of a's default browser, as only a holder of the app's keys could.
func plantTransaction(t testing.TB, a *testApp, state string, fields []string) {
	t.Helper()
	txs, err := session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute, SkipIdleTimeout: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(state))
	req := httptest.NewRequest(http.MethodGet, a.app.URL+"/", nil)
	s, err := txs.New(req, "kwtx-"+hex.EncodeToString(sum[:8]))
	if s == nil {
		t.Fatal(err)
	}
	s.Values["tx"] = fields
	s.Values["exp"] = time.Now().Add(time.Minute).Unix()
	rec := httptest.NewRecorder()
	if err := s.Save(req, rec); err != nil {
		t.Fatal(err)
	}
	a.keepCookies(a.browser, rec)
}

// TestHooksLoginFailed: a representative failure of each reason calls
// LoginFailed once with that reason and the error the error page got.
func TestHooksLoginFailed(t *testing.T) {
	t.Parallel()
	past := func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }
	tests := []struct {
		name    string
		faults  oidctest.Faults
		edit    func(*rp.Config)
		run     func(t *testing.T, a *testApp) int // delivers the failure, returns the status; nil: the callback
		reason  string
		want    error // nil: any
		started bool  // whether Login got to call LoginStarted
	}{
		{name: "PAR fails", reason: rp.ReasonStart,
			edit:   func(c *rp.Config) { c.UsePAR = true },
			faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointPAR: {Status: 500}}},
			run: func(t *testing.T, a *testApp) int {
				return get(t, a.browser.noFollow, a.app.URL+"/login").status
			}},
		{name: "transaction not saved", reason: rp.ReasonStart,
			edit: func(c *rp.Config) { c.TransactionStore = brokenStore{} },
			run: func(t *testing.T, a *testApp) int {
				return get(t, a.browser.noFollow, a.app.URL+"/login").status
			}},
		{name: "malformed transaction", reason: rp.ReasonState,
			run: func(t *testing.T, a *testApp) int {
				plantTransaction(t, a, "s", []string{"s"})
				return get(t, a.browser.noFollow, a.app.URL+"/callback?state=s&code=c").status
			}},
		{name: "callback method", reason: rp.ReasonRequest,
			run: func(t *testing.T, a *testApp) int {
				req, _ := http.NewRequest(http.MethodPut, a.app.URL+"/callback", nil)
				return do(t, a.browser.noFollow, req).status
			}},
		{name: "repeated code", reason: rp.ReasonRequest, want: client.ErrMalformedResponse, started: true,
			faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Add("code", "another") }}},
		{name: "forged state", reason: rp.ReasonState, want: rp.ErrStateMismatch, started: true,
			faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Set("state", "forged") }}},
		{name: "state of another browser", reason: rp.ReasonState, want: rp.ErrStateMismatch, started: true,
			run: func(t *testing.T, a *testApp) int {
				return get(t, newBrowser(t).noFollow, a.callbackURL(t, a.browser, "/")).status
			}},
		{name: "iss parameter", reason: rp.ReasonIssuer, want: rp.ErrIssuerMismatch, started: true,
			faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Set("iss", "https://evil.example") }}},
		{name: "iss parameter missing", reason: rp.ReasonIssuer, want: client.ErrIssuerMissing, started: true,
			faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Del("iss") }}},
		{name: "ID token iss", reason: rp.ReasonIssuer, want: rp.ErrIssuerMismatch, started: true,
			faults: oidctest.Faults{IDTokenClaims: func(c map[string]any) { c["iss"] = "https://evil.example" }}},
		{name: "access_denied", reason: rp.ReasonProviderError, want: &client.AuthError{}, started: true,
			faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Del("code"); p.Set("error", "access_denied") }}},
		{name: "invalid_grant", reason: rp.ReasonTokenEndpoint, want: client.ErrInvalidGrant, started: true,
			faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Status: 400, Body: `{"error":"invalid_grant"}`}}}},
		{name: "token endpoint down", reason: rp.ReasonTokenEndpoint, started: true,
			faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Status: 503}}}},
		{name: "no id_token", reason: rp.ReasonIDToken, want: rp.ErrInvalidIDToken, started: true,
			faults: oidctest.Faults{TokenResponse: func(b map[string]any) { delete(b, "id_token") }}},
		{name: "bad signature", reason: rp.ReasonIDToken, want: rp.ErrInvalidSignature, started: true,
			faults: oidctest.Faults{CorruptIDTokenSignature: true}},
		{name: "expired", reason: rp.ReasonIDToken, want: rp.ErrExpired, started: true,
			faults: oidctest.Faults{IDTokenClaims: past}},
		{name: "JWKS down", reason: rp.ReasonIDToken, started: true,
			faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: 500}}}},
		{name: "nonce", reason: rp.ReasonNonce, want: rp.ErrNonceMismatch, started: true,
			faults: oidctest.Faults{IDTokenClaims: func(c map[string]any) { c["nonce"] = "another" }}},
		{name: "userinfo sub", reason: rp.ReasonUserinfo, want: rp.ErrUserinfoSubject, started: true,
			edit:   func(c *rp.Config) { c.FetchUserinfo = true },
			faults: oidctest.Faults{UserinfoClaims: func(c map[string]any) { c["sub"] = "mallory" }}},
		{name: "userinfo down", reason: rp.ReasonUserinfo, started: true,
			edit:   func(c *rp.Config) { c.FetchUserinfo = true },
			faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointUserinfo: {Status: 500}}}},
		{name: "session not saved", reason: rp.ReasonSession, started: true,
			edit: func(c *rp.Config) { c.Sessions = brokenStore{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := &hookLog{}
			a := newApp(t, appConfig{faults: tt.faults, edit: withHooks(l, tt.edit)})
			run := tt.run
			if run == nil {
				run = func(t *testing.T, a *testApp) int {
					return get(t, a.browser.noFollow, a.callbackURL(t, a.browser, "/")).status
				}
			}
			if status := run(t, a); status < 400 {
				t.Fatalf("the failing login answered %d", status)
			}
			want := map[string]int{"LoginFailed": 1}
			if tt.started {
				want["LoginStarted"] = 1
			}
			var failed hookCall
			for _, c := range l.expect(t, want) {
				if c.hook == "LoginFailed" {
					failed = c
				}
			}
			if failed.reason != tt.reason {
				t.Errorf("LoginFailed reason %q, want %q (err %v)", failed.reason, tt.reason, failed.err)
			}
			page := a.lastError(t)
			if failed.err == nil || failed.err.Error() != page.Error() {
				t.Errorf("LoginFailed err %v, want the error page's %v", failed.err, page)
			}
			if got := rp.LoginFailureReason(page); got != tt.reason {
				t.Errorf("LoginFailureReason = %q, want %q", got, tt.reason)
			}
			var ae *client.AuthError
			switch {
			case tt.want == nil:
			case errors.As(tt.want, &ae):
				if !errors.As(failed.err, &ae) {
					t.Errorf("LoginFailed err %v, want a *client.AuthError", failed.err)
				}
			case !errors.Is(failed.err, tt.want):
				t.Errorf("LoginFailed err %v, want %v", failed.err, tt.want)
			}
		})
	}
}

func TestLoginFailureReason(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("unrelated"), rp.ReasonOther},
		{fmt.Errorf("wrapped: %w", rp.ErrStateMismatch), rp.ReasonState},
		{client.ErrIssuerMismatch, rp.ReasonIssuer},
		{client.ErrIssuerMissing, rp.ReasonIssuer},
		{fmt.Errorf("x: %w", &client.AuthError{Code: "login_required"}), rp.ReasonProviderError},
		{rp.ErrNonceMismatch, rp.ReasonNonce},
		{rp.ErrUserinfoSubject, rp.ReasonUserinfo},
		{rp.ErrInvalidSignature, rp.ReasonIDToken},
		{rp.ErrInvalidIDToken, rp.ReasonIDToken},
		{rp.ErrExpired, rp.ReasonIDToken},
		// The issuer of an ID token is checked like a mix-up, whatever
		// else the error says.
		{fmt.Errorf("%w: %w", rp.ErrInvalidIDToken, rp.ErrIssuerMismatch), rp.ReasonIssuer},
	} {
		if got := rp.LoginFailureReason(tt.err); got != tt.want {
			t.Errorf("LoginFailureReason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// lockingStore is a cookie store that can lock sessions, as
// session.RedisStore does across replicas, so AccessToken refreshes under
// its lock; a cookie's session needs no reloading.
type lockingStore struct {
	*session.CookieStore
	mu sync.Mutex
}

func (s *lockingStore) Lock(context.Context, *sessions.Session, time.Duration) (func(), error) {
	s.mu.Lock()
	return s.mu.Unlock, nil
}

func (s *lockingStore) Reload(context.Context, *sessions.Session) error { return nil }

// TestHooksRefreshed: Refreshed is called once per refresh grant, however
// many requests share it, with nil on success, an error matching
// ErrLoginRequired and client.ErrInvalidGrant when the refresh token is
// refused, and another error otherwise; with and without a store's lock.
func TestHooksRefreshed(t *testing.T) {
	t.Parallel()
	for _, locked := range []bool{false, true} {
		t.Run(fmt.Sprintf("locked=%t", locked), func(t *testing.T) {
			t.Parallel()
			l := &hookLog{}
			a, clk, spy := newRefreshApp(t, appConfig{edit: withHooks(l, func(c *rp.Config) {
				if locked {
					c.Sessions = &lockingStore{CookieStore: c.Sessions.(*session.CookieStore)}
				}
			})})
			b := a.browser
			a.login(t, b, "/")
			a.whoami(t, b) // fresh: no refresh
			l.expect(t, map[string]int{"LoginStarted": 1, "LoginSucceeded": 1})

			// Concurrent requests of the session share one refresh.
			a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record, Endpoints: map[string]oidctest.Failure{
				oidctest.EndpointToken: {Delay: 100 * time.Millisecond},
			}})
			clk.Advance(2 * time.Minute)
			var wg sync.WaitGroup
			for range 10 {
				wg.Go(func() {
					if _, err := a.accessToken(t, b); err != nil {
						t.Errorf("AccessToken: %v", err)
					}
				})
			}
			wg.Wait()
			calls := l.expect(t, map[string]int{"Refreshed": 1})
			if calls[0].err != nil || a.refreshCount() != 1 {
				t.Fatalf("Refreshed(%v) after %d refreshes, want nil after 1", calls[0].err, a.refreshCount())
			}

			// The provider fails: an error, the session stays.
			a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record, Endpoints: map[string]oidctest.Failure{
				oidctest.EndpointToken: {Status: 503},
			}})
			clk.Advance(3 * time.Minute)
			if _, err := a.accessToken(t, b); err == nil {
				t.Fatal("AccessToken succeeded with the token endpoint down")
			}
			calls = l.expect(t, map[string]int{"Refreshed": 1})
			if err := calls[0].err; err == nil || errors.Is(err, rp.ErrLoginRequired) || errors.Is(err, client.ErrInvalidGrant) {
				t.Fatalf("Refreshed(%v) with the token endpoint down, want an error other than invalid_grant", err)
			}

			// The provider refuses the refresh token: login required.
			a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record})
			if err := a.rp.Client().Revoke(context.Background(), spy.last(t, "refresh_token"), "refresh_token"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.accessToken(t, b); !errors.Is(err, rp.ErrLoginRequired) {
				t.Fatalf("AccessToken: %v, want ErrLoginRequired", err)
			}
			calls = l.expect(t, map[string]int{"Refreshed": 1})
			if err := calls[0].err; !errors.Is(err, rp.ErrLoginRequired) || !errors.Is(err, client.ErrInvalidGrant) {
				t.Fatalf("Refreshed(%v), want ErrLoginRequired and client.ErrInvalidGrant", err)
			}
		})
	}
}

// TestHooksLogout: LoggedOut for each logout that ends a session, not for
// refused or empty ones; BackchannelLogout and FrontchannelLogout for each
// request, with nil when applied and the refusal's error otherwise.
func TestHooksLogout(t *testing.T) {
	t.Parallel()
	l := &hookLog{}
	a := newApp(t, appConfig{edit: withHooks(l, nil)})
	b := a.browser
	logout := func(origin string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
		req.Header.Set("Origin", origin)
		do(t, b.noFollow, req)
	}
	a.login(t, b, "/")
	l.take()
	logout("https://evil.example") // refused
	l.expect(t, map[string]int{})
	logout(a.app.URL)
	l.expect(t, map[string]int{"LoggedOut": 1})
	logout(a.app.URL) // no session any more
	l.expect(t, map[string]int{})

	a.login(t, b, "/")
	tok := a.logoutToken(t, "", a.sidOf(t, b), nil, oidctest.SignOptions{})
	l.take()
	accepted(t, a.postLogoutToken(t, tok))
	calls := l.expect(t, map[string]int{"BackchannelLogout": 1})
	if calls[0].err != nil {
		t.Fatalf("BackchannelLogout(%v) for an applied logout", calls[0].err)
	}
	refusedLogout(t, a.postLogoutToken(t, tok), "replay")
	calls = l.expect(t, map[string]int{"BackchannelLogout": 1})
	if !errors.Is(calls[0].err, rp.ErrInvalidLogoutToken) {
		t.Fatalf("BackchannelLogout(%v) for a replay, want ErrInvalidLogoutToken", calls[0].err)
	}
	if r := get(t, http.DefaultClient, a.app.URL+"/backchannel-logout"); r.status != http.StatusBadRequest {
		t.Fatalf("GET /backchannel-logout: %d", r.status)
	}
	if calls = l.expect(t, map[string]int{"BackchannelLogout": 1}); calls[0].err == nil {
		t.Fatal("BackchannelLogout(nil) for a GET")
	}

	a.login(t, b, "/")
	sid := a.sidOf(t, b)
	l.take()
	for _, tt := range []struct {
		iss    string
		status int
	}{
		{"https://evil.example", http.StatusBadRequest},
		{a.op.Issuer, http.StatusOK},
	} {
		r := get(t, b.noFollow, a.frontchannelURL(url.Values{"iss": {tt.iss}, "sid": {sid}}))
		calls = l.expect(t, map[string]int{"FrontchannelLogout": 1})
		if r.status != tt.status || (calls[0].err == nil) != (tt.status == http.StatusOK) {
			t.Fatalf("front-channel logout from %s: %d, FrontchannelLogout(%v)", tt.iss, r.status, calls[0].err)
		}
	}
	a.requireNoSession(t, b)
}

// TestHooksPartlySet: unset hooks are skipped; the set one sees only its
// own events.
func TestHooksPartlySet(t *testing.T) {
	t.Parallel()
	l := &hookLog{}
	a, clk, _ := newRefreshApp(t, appConfig{edit: func(c *rp.Config) {
		c.Hooks = rp.Hooks{LoggedOut: l.hooks().LoggedOut}
	}})
	b := a.browser
	a.login(t, b, "/")
	clk.Advance(2 * time.Minute)
	a.whoami(t, b) // refreshes
	if r := get(t, newBrowser(t).noFollow, a.app.URL+"/callback?state=forged"); r.status != http.StatusBadRequest {
		t.Fatalf("forged callback: %d", r.status)
	}
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})))
	get(t, b.noFollow, a.frontchannelURL(url.Values{"iss": {a.op.Issuer}, "sid": {"s"}}))
	l.expect(t, map[string]int{})

	clk.Advance(time.Second) // log in again after the logout
	a.login(t, b, "/")
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	do(t, b.noFollow, req)
	l.expect(t, map[string]int{"LoggedOut": 1})
}
