package rp_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// TestConformanceRPInitiatedLogout runs the RP-Initiated Logout RP plan.
func TestConformanceRPInitiatedLogout(t *testing.T) {
	t.Parallel()
	runPlan(t, rpInitiatedLogoutPlan(), false)
}

func rpInitiatedLogoutPlan() []conformanceCase {
	return []conformanceCase{{name: "rp-init-logout", run: rpInitLogout}}
}

// rpInitLogout: logout ends the session and sends the browser to the
// end_session_endpoint with the session's ID token as id_token_hint, the
// client_id and the registered post_logout_redirect_uri, to which the
// provider then returns it.
func rpInitLogout(t *testing.T, c conformanceCase, formPost bool) {
	a, _ := c.newApp(t, formPost)
	spy := &tokenSpy{}
	a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record})
	b := newBrowser(t)
	a.loginWith(t, b, formPost)
	a.op.ResetRequests()
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	r := do(t, b.noFollow, req)
	loc, err := url.Parse(r.location)
	if r.status != http.StatusSeeOther || err != nil {
		t.Fatalf("POST /logout: %d %q %v", r.status, r.location, err)
	}
	q := loc.Query()
	if at := loc.Scheme + "://" + loc.Host + loc.Path; at != a.op.Metadata()["end_session_endpoint"] {
		t.Fatalf("logout redirected to %s, want the end_session_endpoint", at)
	}
	if q.Get("id_token_hint") != spy.last(t, "id_token") || q.Get("client_id") != "app" || q.Get("post_logout_redirect_uri") != a.app.URL+"/" {
		t.Fatalf("end_session parameters: %v", q)
	}
	a.requireNoSession(t, b)
	back := get(t, b.noFollow, r.location)
	if back.status != http.StatusFound || back.location != a.app.URL+"/" {
		t.Fatalf("end_session: %d %q, want a redirect to the post_logout_redirect_uri", back.status, back.location)
	}
	if r := get(t, b.noFollow, back.location); r.status != http.StatusOK || r.body != "home" {
		t.Fatalf("post-logout page: %d %s", r.status, r.body)
	}
	one(t, a.op.Requests(), oidctest.EndpointEndSession)
}

// TestConformanceBackchannelLogout runs the Back-Channel Logout RP plan,
// with more invalid logout tokens than the plan has.
func TestConformanceBackchannelLogout(t *testing.T) {
	t.Parallel()
	cases := backchannelPlan()
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	requireUniqueNames(t, names)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t)
		})
	}
}

// logoutCase is a case of the Back-Channel Logout RP plan. The user has
// two sessions, from two provider sessions (sids); the provider posts a
// logout token for the first sid, edited by claims, signed as opts say
// (or replaced by token), and the RP must accept it and end the sessions
// ends says, or refuse it (400) for the reason in want, with an error
// matching is, and end nothing.
type logoutCase struct {
	name   string
	claims func(c map[string]any)
	opts   oidctest.SignOptions
	token  func(valid string) string
	want   string // in error_description; "" accepts the token
	is     error
	ends   [2]bool
	run    func(t *testing.T, a *testApp, clk *clock, b [2]*browser, sid string)
}

func backchannelPlan() []logoutCase {
	now := time.Now
	return []logoutCase{
		{name: "rp-backchannel-rpinitlogout", run: backchannelAfterRPLogout},
		{name: "rp-backchannel-rpinitlogout-lt-alg-none", opts: oidctest.SignOptions{Alg: oidctest.None},
			want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "rp-backchannel-rpinitlogout-lt-wrong-alg", opts: oidctest.SignOptions{Alg: oidctest.HS256, HMACKey: []byte("app-secret")},
			want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "rp-backchannel-rpinitlogout-lt-bad-sig", token: corruptSignature, want: "invalid signature", is: rp.ErrInvalidSignature},
		{name: "rp-backchannel-rpinitlogout-lt-wrong-issuer", claims: func(c map[string]any) { c["iss"] = "https://evil.example" },
			want: "issuer mismatch", is: rp.ErrIssuerMismatch},
		{name: "rp-backchannel-rpinitlogout-lt-wrong-aud", claims: func(c map[string]any) { c["aud"] = "another-client" },
			want: "does not name this client"},
		{name: "rp-backchannel-rpinitlogout-lt-iat-missing", claims: func(c map[string]any) { delete(c, "iat") }, want: "iat is missing"},
		{name: "rp-backchannel-rpinitlogout-lt-expired", claims: func(c map[string]any) {
			c["iat"], c["exp"] = now().Add(-5*time.Minute).Unix(), now().Add(-2*time.Minute).Unix()
		}, want: "expired"},
		{name: "rp-backchannel-rpinitlogout-lt-exp-missing", claims: func(c map[string]any) { delete(c, "exp") }, ends: [2]bool{true, false}},
		{name: "rp-backchannel-rpinitlogout-lt-exp-missing-stale", claims: func(c map[string]any) {
			delete(c, "exp")
			c["iat"] = now().Add(-4 * time.Minute).Unix()
		}, want: "expired"},
		{name: "rp-backchannel-rpinitlogout-lt-with-nonce", claims: func(c map[string]any) { c["nonce"] = "n-0S6_WzA2Mj" }, want: "nonce is present"},
		{name: "rp-backchannel-rpinitlogout-lt-no-event", claims: func(c map[string]any) { delete(c, "events") }, want: "events is missing"},
		{name: "rp-backchannel-rpinitlogout-lt-wrong-event", claims: func(c map[string]any) {
			c["events"] = map[string]any{"http://schemas.openid.net/event/other": map[string]any{}}
		}, want: "has no"},
		{name: "rp-backchannel-rpinitlogout-lt-no-sid-no-sub", claims: func(c map[string]any) { delete(c, "sid"); delete(c, "sub") },
			want: "neither sid nor sub"},
		{name: "rp-backchannel-rpinitlogout-lt-id-token-typ", opts: oidctest.SignOptions{Type: "JWT"}, want: `typ "JWT"`},
		{name: "rp-backchannel-rpinitlogout-lt-sid-mismatch", claims: func(c map[string]any) { c["sid"] = "a-sid-of-no-session-here" }},
		{name: "rp-backchannel-rpinitlogout-lt-sid", ends: [2]bool{true, false}},
		{name: "rp-backchannel-rpinitlogout-lt-sub", claims: func(c map[string]any) { delete(c, "sid"); c["sub"] = "ada" }, ends: [2]bool{true, true}},
		{name: "rp-backchannel-rpinitlogout-lt-replay", run: backchannelReplay},
	}
}

// test logs the user in twice and posts the case's logout token.
func (c logoutCase) test(t *testing.T) {
	log := &errorLog{}
	a, clk := conformanceCase{edit: func(cfg *rp.Config) { cfg.Logger = slog.New(log) }}.newApp(t, false)
	b := [2]*browser{newBrowser(t), newBrowser(t)}
	for _, br := range b {
		a.loginWith(t, br, false)
	}
	sid := a.sidOf(t, b[0])
	if a.sidOf(t, b[1]) == sid {
		t.Fatal("the two sessions share a provider session")
	}
	a.op.ResetRequests()
	if c.run != nil {
		c.run(t, a, clk, b, sid)
		return
	}
	c.post(t, a, b, log, sid)
	noTokenCalls(t, a)
}

// noTokenCalls checks that the provider's token and userinfo endpoints
// were not called since its requests were last reset.
func noTokenCalls(t *testing.T, a *testApp) {
	t.Helper()
	if n := len(a.op.Requests(oidctest.EndpointToken, oidctest.EndpointUserinfo)); n != 0 {
		t.Fatalf("%d token or userinfo requests after a logout token", n)
	}
}

func (c logoutCase) post(t *testing.T, a *testApp, b [2]*browser, log *errorLog, sid string) {
	claims := a.op.LogoutClaims("app", "", sid)
	if c.claims != nil {
		c.claims(claims)
	}
	opts := c.opts
	if opts.Type == "" {
		opts.Type = "logout+jwt"
	}
	tok, err := a.op.Sign(claims, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.token != nil {
		tok = c.token(tok)
	}
	r := a.postLogoutToken(t, tok)
	if len(r.cookies) != 0 {
		t.Fatalf("the back-channel logout endpoint set cookies: %v", r.cookies)
	}
	if c.want == "" {
		accepted(t, r)
		for i, ended := range c.ends {
			if ended {
				a.requireNoSession(t, b[i])
			} else {
				a.whoami(t, b[i])
			}
		}
		return
	}
	refusedLogout(t, r, c.want)
	if err := log.last(t); !errors.Is(err, rp.ErrInvalidLogoutToken) || c.is != nil && !errors.Is(err, c.is) {
		t.Fatalf("error %v, want %v and %v", err, rp.ErrInvalidLogoutToken, c.is)
	}
	for _, br := range b {
		a.whoami(t, br)
	}
}

// backchannelAfterRPLogout: the user logs out at the RP, which sends them
// to the provider; the provider then posts a logout token for that
// provider session to every RP of it, this one included, which answers
// 200. The user's other session stays.
func backchannelAfterRPLogout(t *testing.T, a *testApp, _ *clock, b [2]*browser, sid string) {
	req, _ := http.NewRequest(http.MethodPost, a.app.URL+"/logout", nil)
	req.Header.Set("Origin", a.app.URL)
	r := do(t, b[0].noFollow, req)
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /logout: %d", r.status)
	}
	if r := get(t, b[0].noFollow, r.location); r.status != http.StatusFound {
		t.Fatalf("end_session: %d %s", r.status, r.body)
	}
	if err := a.op.SendBackchannelLogout(context.Background(), "app", "", sid); err != nil {
		t.Fatalf("back-channel logout after RP-initiated logout: %v", err)
	}
	a.requireNoSession(t, b[0])
	a.whoami(t, b[1])
	noTokenCalls(t, a)
}

// backchannelReplay: a logout token is accepted once; posted again after
// the user logged in anew, it is refused and ends nothing.
func backchannelReplay(t *testing.T, a *testApp, clk *clock, b [2]*browser, sid string) {
	tok := a.logoutToken(t, "", sid, nil, oidctest.SignOptions{})
	accepted(t, a.postLogoutToken(t, tok))
	a.requireNoSession(t, b[0])
	clk.Advance(time.Second) // the new session begins after the logout
	a.loginWith(t, b[0], false)
	a.op.ResetRequests()
	refusedLogout(t, a.postLogoutToken(t, tok), "replay")
	a.whoami(t, b[0])
	a.whoami(t, b[1])
	noTokenCalls(t, a)
}
