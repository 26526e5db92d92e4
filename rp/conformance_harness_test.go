package rp_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// The conformance suite replays, against oidctest, the relying-party test
// plans of the OpenID Foundation's certification program: each case is a
// subtest named as in its plan, in which the provider misbehaves as the
// plan says and the RP must accept or refuse. CONFORMANCE.md lists them.

// stage is how far a login of a conformance case gets: where the RP must
// refuse it, which fixes the provider endpoints it may still call once the
// authorization response has reached it.
type stage int

const (
	// acceptLogin: the login succeeds.
	acceptLogin stage = iota
	// refuseResponse: the authorization response is refused; neither the
	// token nor the userinfo endpoint is called.
	refuseResponse
	// refuseIDToken: the code is redeemed and the ID token refused; the
	// userinfo endpoint is not called.
	refuseIDToken
	// refuseUserinfo: the userinfo response is refused.
	refuseUserinfo
)

// conformanceCase is one case of a login test plan.
type conformanceCase struct {
	name string
	// op configures the provider; client edits its registration of "app".
	op     oidctest.Config
	client func(*oidctest.Client)
	// edit edits the RP's configuration (FetchUserinfo is on, so that a
	// refused ID token is seen to stop the userinfo call).
	edit func(*rp.Config)
	// discovery edits the discovery document the RP reads at start.
	discovery func(doc map[string]any)
	// faults are set once the RP has read the discovery document.
	faults func(t *testing.T, op *oidctest.Server) oidctest.Faults
	// stage is where the RP must refuse the login (or acceptLogin), want
	// the error it must refuse it with (see matches) and status the
	// callback's status (0 means 400).
	stage  stage
	want   error
	status int
	// check makes more checks on an accepted login.
	check func(t *testing.T, run *conformanceRun)
	// run replaces the one-login flow, for cases of several steps; it
	// gets the case itself, whose newApp it may use.
	run func(t *testing.T, c conformanceCase, formPost bool)
}

// conformanceRun is one login of a conformance case.
type conformanceRun struct {
	a   *testApp
	b   *browser
	clk *clock
	// front are the requests the provider received up to and including
	// its authorization response (discovery, PAR, authorize).
	front []oidctest.Request
	// spy saw the token responses, as the RP received them.
	spy *tokenSpy
}

// runPlan runs the cases of a plan as parallel subtests named after them,
// with response_mode=form_post when formPost is set.
func runPlan(t *testing.T, cases []conformanceCase, formPost bool) {
	t.Helper()
	requireUniqueNames(t, caseNames(cases))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.run != nil {
				c.run(t, c, formPost)
				return
			}
			c.login(t, formPost)
		})
	}
}

func caseNames(cases []conformanceCase) []string {
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	return names
}

// requireUniqueNames fails when two cases share a name: t.Run would
// rename the second, and CONFORMANCE.md would point to the wrong test.
func requireUniqueNames(t testing.TB, names []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("two cases named %q", n)
		}
		seen[n] = true
	}
}

// newApp starts the provider and the app of c. The RP runs on a settable
// clock that stands still unless the case moves it; the provider keeps
// real time (the RP's leeway covers the difference).
func (c conformanceCase) newApp(t *testing.T, formPost bool) (*testApp, *clock) {
	t.Helper()
	clk := newClock()
	a := newApp(t, appConfig{
		op:     c.op,
		client: c.client,
		faults: oidctest.Faults{Discovery: c.discovery},
		edit: func(cfg *rp.Config) {
			cfg.Now = clk.Now
			cfg.FetchUserinfo = true
			cfg.FormPost = formPost
			if c.edit != nil {
				c.edit(cfg)
			}
		},
	})
	return a, clk
}

// login runs one login of c and checks the RP's verdict.
func (c conformanceCase) login(t *testing.T, formPost bool) {
	a, clk := c.newApp(t, formPost)
	spy := &tokenSpy{}
	var f oidctest.Faults
	if c.faults != nil {
		f = c.faults(t, a.op)
	}
	f.TokenResponse = chain(f.TokenResponse, spy.record)
	a.op.SetFaults(f)
	b := newBrowser(t)
	deliver := a.respond(t, b, formPost)
	run := &conformanceRun{a: a, b: b, clk: clk, front: a.op.Requests(), spy: spy}
	// From here on the provider's requests are those the authorization
	// response led the RP to make.
	a.op.ResetRequests()
	r := deliver()
	if c.stage == acceptLogin {
		run.accepted(t, r)
		if c.check != nil {
			c.check(t, run)
		}
		return
	}
	run.refused(t, r, c)
}

// respond runs a login in b up to the provider's authorization response
// and returns what delivers it to the RP: the redirect to the callback,
// or with form_post the provider's auto-submitting form.
func (a *testApp) respond(t *testing.T, b *browser, formPost bool) func() response {
	t.Helper()
	authURL := a.startLogin(t, b, "/")
	if !formPost {
		cb := a.authorize(t, b, authURL)
		return func() response { return get(t, b.noFollow, cb) }
	}
	page := get(t, b.noFollow, authURL)
	if page.status != http.StatusOK {
		t.Fatalf("authorize with form_post: %d %q %s", page.status, page.location, page.body)
	}
	return func() response { return postForm(t, b, page.body) }
}

// loginWith logs b in, by query or form_post, and fails unless it works.
func (a *testApp) loginWith(t *testing.T, b *browser, formPost bool) {
	t.Helper()
	if r := a.respond(t, b, formPost)(); r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
}

// accepted checks that the login succeeded after one token and one
// userinfo request.
func (run *conformanceRun) accepted(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s, want 303", r.status, r.body)
	}
	tokens, userinfo := run.calls()
	if tokens != 1 || userinfo != 1 {
		t.Fatalf("token and userinfo requests = %d and %d, want 1 and 1", tokens, userinfo)
	}
	if m := run.a.whoami(t, run.b); m.Sub != "ada" {
		t.Fatalf("logged in as %q", m.Sub)
	}
}

// refused checks that the callback failed with c's status and error, set
// no session cookie, started no session, and that the RP stopped at c's
// stage: no token or userinfo request after a refused authorization
// response, no userinfo request after a refused ID token.
func (run *conformanceRun) refused(t *testing.T, r response, c conformanceCase) {
	t.Helper()
	status := c.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if r.status != status {
		t.Fatalf("callback: %d %s, want %d", r.status, r.body, status)
	}
	if c.want != nil {
		if err := run.a.lastError(t); !matches(err, c.want) {
			t.Fatalf("callback error %v, want %v", err, c.want)
		}
	}
	for _, ck := range r.cookies {
		if ck.Name == "keyway" && ck.Value != "" {
			t.Fatal("a refused callback set the session cookie")
		}
	}
	want := map[stage][2]int{refuseResponse: {0, 0}, refuseIDToken: {1, 0}, refuseUserinfo: {1, 1}}[c.stage]
	if tokens, userinfo := run.calls(); tokens != want[0] || userinfo != want[1] {
		t.Fatalf("after the refused %s: token and userinfo requests = %d and %d, want %d and %d",
			c.stage, tokens, userinfo, want[0], want[1])
	}
	run.a.requireNoSession(t, run.b)
}

// matches reports whether err is want: errors.Is, or for a
// *client.AuthError an error response with the same code.
func matches(err, want error) bool {
	var ae *client.AuthError
	if errors.As(want, &ae) {
		var got *client.AuthError
		return errors.As(err, &got) && got.Code == ae.Code
	}
	return errors.Is(err, want)
}

// calls counts the token and userinfo requests since the authorization
// response.
func (run *conformanceRun) calls() (tokens, userinfo int) {
	for _, r := range run.a.op.Requests(oidctest.EndpointToken, oidctest.EndpointUserinfo) {
		if r.Endpoint == oidctest.EndpointToken {
			tokens++
		} else {
			userinfo++
		}
	}
	return tokens, userinfo
}

// only returns the requests of reqs to endpoint.
func only(reqs []oidctest.Request, endpoint string) []oidctest.Request {
	var out []oidctest.Request
	for _, r := range reqs {
		if r.Endpoint == endpoint {
			out = append(out, r)
		}
	}
	return out
}

// one returns the single request of reqs to endpoint, failing otherwise.
func one(t testing.TB, reqs []oidctest.Request, endpoint string) oidctest.Request {
	t.Helper()
	got := only(reqs, endpoint)
	if len(got) != 1 {
		t.Fatalf("%d %s requests, want 1", len(got), endpoint)
	}
	return got[0]
}

func (s stage) String() string {
	switch s {
	case refuseResponse:
		return "authorization response"
	case refuseIDToken:
		return "ID token"
	case refuseUserinfo:
		return "userinfo response"
	}
	return "login"
}
