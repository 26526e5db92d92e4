package rp_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/rp"
)

// FuzzCallback feeds arbitrary query strings (GET) or form bodies (POST) to
// the Callback handler, with or without the cookie of a real login in
// progress. In the input, {state}, {code} and {iss} stand for that login's
// state, a real code the provider issued for it, and the issuer, so that
// the fuzzer can get past the first checks. The handler must not panic,
// must answer 4xx and set no session cookie, unless the input is exactly a
// genuine response: then it answers 303 with a session.
func FuzzCallback(f *testing.F) {
	a := newApp(f, appConfig{edit: func(c *rp.Config) { c.ErrorPage = nil }})
	for _, s := range []struct {
		params       string
		withTx, post bool
	}{
		{"state={state}&code={code}&iss={iss}", true, false},
		{"state={state}&code={code}&iss={iss}", true, true},
		{"state={state}&code={code}&iss={iss}", false, false},
		{"state={state}&code={code}", true, false},
		{"state={state}&code=forged&iss={iss}", true, false},
		{"state={state}&state={state}&code={code}&iss={iss}", true, false},
		{"state={state}&code={code}&iss={iss}&iss=x", true, true},
		{"state={state}&error=access_denied&error_description=%3Cscript%3E&iss={iss}", true, false},
		{"state=x&code={code}&iss={iss}", true, false},
		{"code=abc", false, false},
		{"", true, true},
		{"state=%zz&code=%", true, true},
		{"state={state};code={code}", true, false},
	} {
		f.Add(s.params, s.withTx, s.post)
	}
	f.Fuzz(func(t *testing.T, params string, withTx, post bool) {
		// A login in progress: its cookie, its state, maybe a real code.
		rec := httptest.NewRecorder()
		a.rp.Login(rec, httptest.NewRequest(http.MethodGet, a.app.URL+"/login", nil))
		authURL := rec.Header().Get("Location")
		u, err := url.Parse(authURL)
		if err != nil {
			t.Fatal(err)
		}
		state := u.Query().Get("state")
		code := ""
		if strings.Contains(params, "{code}") {
			cb, _ := url.Parse(a.authorize(t, newBrowser(t), authURL))
			code = cb.Query().Get("code")
		}
		params = strings.NewReplacer(
			"{state}", url.QueryEscape(state),
			"{code}", url.QueryEscape(code),
			"{iss}", url.QueryEscape(a.op.Issuer),
		).Replace(params)

		req := httptest.NewRequest(http.MethodGet, a.app.URL+"/callback", nil)
		req.URL.RawQuery = params
		got, _ := url.ParseQuery(params)
		if post {
			req = httptest.NewRequest(http.MethodPost, a.app.URL+"/callback", strings.NewReader(params))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if got, err = url.ParseQuery(params); err != nil {
				got = nil // ParseForm fails on the same input
			}
		}
		if withTx {
			for _, c := range rec.Result().Cookies() {
				req.AddCookie(c)
			}
		}
		genuine := withTx && code != "" &&
			single(got, "state", state) && single(got, "code", code) && single(got, "iss", a.op.Issuer) &&
			!got.Has("error") && len(got["error_description"]) <= 1 && len(got["error_uri"]) <= 1

		w := httptest.NewRecorder()
		a.rp.Callback(w, req)
		sessionSet := false
		for _, c := range w.Result().Cookies() {
			if c.Name == "keyway" && c.Value != "" {
				sessionSet = true
			}
		}
		switch {
		case genuine && (w.Code != http.StatusSeeOther || !sessionSet):
			t.Fatalf("genuine response %q: %d, session cookie %t: %s", params, w.Code, sessionSet, w.Body)
		case !genuine && (w.Code < 400 || w.Code > 499):
			t.Fatalf("callback %q (tx %t, post %t): status %d, want 4xx", params, withTx, post, w.Code)
		case !genuine && sessionSet:
			t.Fatalf("callback %q (tx %t, post %t) set a session cookie", params, withTx, post)
		}
	})
}

// single reports whether v holds exactly one value for key, want.
func single(v map[string][]string, key, want string) bool {
	return len(v[key]) == 1 && v[key][0] == want
}
