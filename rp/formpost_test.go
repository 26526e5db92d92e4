package rp_test

import (
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]*)"`)
	formInput  = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// postForm reads the provider's auto-submitting form_post page and submits
// it as a browser would.
func postForm(t testing.TB, b *browser, page string) response {
	t.Helper()
	m := formAction.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no form in the provider's page:\n%s", page)
	}
	form := url.Values{}
	for _, in := range formInput.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
	}
	req, _ := http.NewRequest(http.MethodPost, html.UnescapeString(m[1]), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, b.noFollow, req)
}

func TestFormPost(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) { c.FormPost = true })
	b := a.browser
	authURL := a.startLogin(t, b, "/profile")
	if u, _ := url.Parse(authURL); u.Query().Get("response_mode") != "form_post" {
		t.Fatalf("authorization request without response_mode=form_post: %s", authURL)
	}
	page := get(t, b.noFollow, authURL)
	if page.status != http.StatusOK {
		t.Fatalf("authorize: %d %q", page.status, page.location)
	}
	r := postForm(t, b, page.body)
	if r.status != http.StatusSeeOther || r.location != "/profile" {
		t.Fatalf("form_post callback: %d %q %s", r.status, r.location, r.body)
	}
	a.whoami(t, b)
}

// TestFormPostChecks: the form_post callback gets the same checks; only
// the body counts, not the query.
func TestFormPostChecks(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{
		faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Set("iss", "https://evil.example") }},
		edit:   func(c *rp.Config) { c.FormPost = true },
	})
	b := a.browser
	page := get(t, b.noFollow, a.startLogin(t, b, "/"))
	if r := postForm(t, b, page.body); r.status != http.StatusBadRequest {
		t.Fatalf("form_post callback with another iss: %d", r.status)
	}
	if err := a.lastError(t); !errors.Is(err, rp.ErrIssuerMismatch) {
		t.Fatalf("form_post callback: %v, want ErrIssuerMismatch", err)
	}
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatal("a refused form_post callback reached the token endpoint")
	}
	a.requireNoSession(t, b)
}
