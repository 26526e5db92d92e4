package middleware

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// whoami answers 200 with the subject of the claims in the context, or
// "anonymous".
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	sub := "anonymous"
	if c, ok := ClaimsFrom(r.Context()); ok {
		sub = c.Subject()
	}
	_, _ = w.Write([]byte(sub))
})

// errorBody decodes an RFC 6750 JSON error body.
func errorBody(t testing.TB, w *httptest.ResponseRecorder) (code, description string) {
	t.Helper()
	var body struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	return body.Error, body.Description
}

func TestHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	h := f.v.Handler(whoami)
	good := f.token(t, nil)
	expired := f.token(t, func(c map[string]any) { c["exp"] = f.clock.Now().Add(-time.Hour).Unix() })
	bound := f.token(t, func(c map[string]any) { c["cnf"] = map[string]any{"jkt": "abc"} })

	type want struct {
		status    int
		challenge string // exact WWW-Authenticate; "" for none
		code      string // JSON error
		body      string // body of a 200
	}
	invalidToken := func(desc string) want {
		return want{http.StatusUnauthorized, `Bearer error="invalid_token", error_description="` + desc + `"`, "invalid_token", ""}
	}
	noToken := want{http.StatusUnauthorized, "Bearer", "unauthorized", ""}
	invalidRequest := func(desc string) want {
		return want{http.StatusBadRequest, `Bearer error="invalid_request", error_description="` + desc + `"`, "invalid_request", ""}
	}
	ok := want{status: http.StatusOK, body: "ada"}

	tests := []struct {
		name string
		req  func() *http.Request
		want want
	}{
		{"no token", func() *http.Request { return request("/", "") }, noToken},
		{"valid", func() *http.Request { return request("/", good) }, ok},
		{"scheme lower case", func() *http.Request {
			r := request("/", "")
			r.Header.Set("Authorization", "bearer "+good)
			return r
		}, ok},
		{"scheme upper case, extra spaces", func() *http.Request {
			r := request("/", "")
			r.Header.Set("Authorization", "BEARER   "+good+" ")
			return r
		}, ok},
		{"Basic scheme", func() *http.Request {
			r := request("/", "")
			r.SetBasicAuth("app", "secret")
			return r
		}, noToken},
		{"DPoP scheme without a proof", func() *http.Request {
			r := request("/", "")
			r.Header.Set("Authorization", "DPoP "+good)
			return r
		}, want{http.StatusUnauthorized, "Bearer", "invalid_dpop_proof", ""}}, // the error is in the DPoP challenge
		{"empty Authorization", func() *http.Request {
			r := request("/", "")
			r.Header.Set("Authorization", "")
			return r
		}, noToken},
		{"Bearer without token", func() *http.Request {
			r := request("/", "")
			r.Header.Set("Authorization", "Bearer ")
			return r
		}, invalidRequest("the request is malformed")},
		{"two Authorization headers", func() *http.Request {
			r := request("/", good)
			r.Header.Add("Authorization", "Bearer "+good)
			return r
		}, invalidRequest("more than one Authorization header")},
		{"token in query", func() *http.Request { return request("/?access_token="+good, "") }, invalidRequest(
			"access tokens in the query string are not accepted; use the Authorization header")},
		{"token in query and header", func() *http.Request { return request("/?a=1&access_token=x", good) }, invalidRequest(
			"access tokens in the query string are not accepted; use the Authorization header")},
		{"token in query, percent-encoded key", func() *http.Request { return request("/?%61ccess%5Ftoken=x", good) }, invalidRequest(
			"access tokens in the query string are not accepted; use the Authorization header")},
		{"query mentions access_token", func() *http.Request { return request("/?q=access_token&r=%20", good) }, ok},
		{"malformed token", func() *http.Request { return request("/", "abc") }, invalidToken("the access token is malformed")},
		{"dots", func() *http.Request { return request("/", strings.Repeat(".", 1<<16)) }, invalidToken("the access token is malformed")},
		{"expired", func() *http.Request { return request("/", expired) }, invalidToken("the access token expired")},
		{"bad signature", func() *http.Request { return request("/", good[:len(good)-3]+"AAA") }, invalidToken("the access token signature is invalid")},
		{"cnf.jkt as bearer", func() *http.Request { return request("/", bound) }, invalidToken(
			"the access token is sender-constrained and cannot be used as a bearer token")},
		{"cookie not configured", func() *http.Request {
			r := request("/", "")
			r.AddCookie(&http.Cookie{Name: "at", Value: good})
			return r
		}, noToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := serve(h, tc.req())
			if w.Code != tc.want.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tc.want.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.want.challenge {
				t.Errorf("WWW-Authenticate %q\nwant %q", got, tc.want.challenge)
			}
			if tc.want.status == http.StatusOK {
				if w.Body.String() != tc.want.body {
					t.Errorf("body %q", w.Body)
				}
				return
			}
			if code, _ := errorBody(t, w); code != tc.want.code {
				t.Errorf("error %q, want %q", code, tc.want.code)
			}
		})
	}
}

func TestHandlerCookie(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.Cookie = "at" })
	h := f.v.Handler(whoami)
	good := f.token(t, nil)
	r := request("/", "")
	r.AddCookie(&http.Cookie{Name: "at", Value: good})
	if w := serve(h, r); w.Code != http.StatusOK || w.Body.String() != "ada" {
		t.Errorf("token in cookie: %d %s", w.Code, w.Body)
	}
	// The Authorization header wins over the cookie.
	r = request("/", "bad.bad.bad")
	r.AddCookie(&http.Cookie{Name: "at", Value: good})
	if w := serve(h, r); w.Code != http.StatusUnauthorized {
		t.Errorf("bad header, good cookie: %d", w.Code)
	}
	r = request("/", "")
	r.AddCookie(&http.Cookie{Name: "other", Value: good})
	if w := serve(h, r); w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("other cookie: %d", w.Code)
	}
}

func TestHandlerOptionalPatterns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.OptionalPatterns = []string{"GET /public/", "/health"} })
	h := f.v.Handler(whoami)
	tests := []struct {
		method, path, token string
		status              int
		body                string
	}{
		{"GET", "/public/x", "", http.StatusOK, "anonymous"},
		{"HEAD", "/public/x", "", http.StatusOK, ""},
		{"GET", "/public/x", f.token(t, nil), http.StatusOK, "ada"},
		{"GET", "/public/x", "bad.bad.bad", http.StatusUnauthorized, ""},
		{"POST", "/public/x", "", http.StatusUnauthorized, ""},
		{"GET", "/health", "", http.StatusOK, "anonymous"},
		{"GET", "/private", "", http.StatusUnauthorized, ""},
		{"GET", "/public/../private", "", http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.token != "" {
			r.Header.Set("Authorization", "Bearer "+tc.token)
		}
		w := serve(h, r)
		if w.Code != tc.status || (tc.status == http.StatusOK && tc.method == "GET" && w.Body.String() != tc.body) {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, w.Code, w.Body)
		}
	}
}

func TestHandlerErrorHandler(t *testing.T) {
	t.Parallel()
	var got error
	var v *Validator
	f := newFixture(t, func(c *Config) {
		c.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			got = err
			w.Header().Set("X-Refused", "yes")
			v.WriteError(w, r, err)
		}
	})
	v = f.v
	w := serve(f.v.Handler(whoami), request("/", f.token(t, func(c map[string]any) { c["aud"] = "x" })))
	if !errors.Is(got, ErrInvalidAudience) || w.Header().Get("X-Refused") != "yes" || w.Code != http.StatusUnauthorized {
		t.Errorf("error handler got %v; response %d %v", got, w.Code, w.Header())
	}
	if _, desc := errorBody(t, w); desc != "the access token is not meant for this resource" {
		t.Errorf("description %q", desc)
	}
}

// TestHandlerNeverEchoesToken: values from the token (here a kid and an
// issuer full of quotes, backslashes and HTML) appear nowhere in the
// response, though they are in the error.
func TestHandlerNeverEchoesToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	evil := "\"\\<script>x</script>, error=\"none"
	for _, tok := range []string{
		f.sign(t, f.claims(), oidctest.SignOptions{Header: map[string]any{"kid": evil}}),
		f.token(t, func(c map[string]any) { c["iss"] = evil }),
		f.token(t, func(c map[string]any) { c["aud"] = evil }),
	} {
		w := serve(f.v.Handler(whoami), request("/", tok))
		all := w.Body.String()
		for k, vs := range w.Header() {
			all += k + ": " + strings.Join(vs, ",") + "\n"
		}
		if strings.Contains(all, "<script>") || strings.Contains(all, `error="none`) || strings.Contains(all, `\`) {
			t.Errorf("response echoes the token:\n%s", all)
		}
		if _, err := f.v.Verify(t.Context(), tok); err == nil || !strings.Contains(err.Error(), "<script>") {
			t.Errorf("error %v should quote the value for logs", err)
		}
	}
}

func TestChallengeQuoting(t *testing.T) {
	t.Parallel()
	v := &Validator{metadata: &metadataDoc{url: "https://api.example.com/.well-known/oauth-protected-resource"}}
	got := v.challenge("Bearer", describe(ErrInsufficientScope), "ad\"m\\in\r\nx é", "")
	want := `Bearer error="insufficient_scope", scope="adminx ", error_description="the access token does not grant access to this resource", ` +
		`resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`
	if got != want {
		t.Errorf("challenge\n%s\nwant\n%s", got, want)
	}
}
