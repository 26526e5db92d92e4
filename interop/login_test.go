package interop

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// login runs an authorization request as a user named username would in a browser:
// it follows the provider's redirects, signs in on the devInteractions login form,
// accepts the consent form, and returns the redirect to the client's redirect_uri
// (code, state and iss in its query) without requesting it. It fails the test on
// any other outcome, including an error redirect to the client.
//
// c keeps the provider's cookies, so a second login with the same c reuses the
// session (no login form); nil means a fresh browser.
func (p *provider) login(t testing.TB, c *http.Client, authorizeURL, username string) *url.URL {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	callback, err := p.authorize(ctx, c, authorizeURL, username)
	if err != nil {
		t.Fatal(err)
	}
	if q := callback.Query(); q.Has("error") {
		t.Fatalf("interop: login: authorization error %q: %s", q.Get("error"), q.Get("error_description"))
	}
	return callback
}

// logout runs RP-initiated logout in browser c (the one that logged in): it
// requests endSessionURL, answers "Yes, sign me out" and returns where the provider
// then redirects, without requesting it: the post_logout_redirect_uri (with state),
// or the provider's own success page. The provider sends its back-channel logout
// tokens before it answers.
func (p *provider) logout(t testing.TB, c *http.Client, endSessionURL string) *url.URL {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	browser := noRedirects(c)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endSessionURL, nil)
	if err != nil {
		t.Fatalf("interop: logout: %v", err)
	}
	if req.URL.Host != hostOf(p.Issuer) {
		t.Fatalf("interop: logout: %s is not the provider's", req.URL.Redacted())
	}
	status, _, body, err := send(browser, req)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("interop: logout: status %d: %s", status, pageText(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	action, values, err := readForm(req.URL, body, hostOf(p.Issuer), "")
	if err != nil {
		t.Fatal(err)
	}
	values.Set("logout", "yes") // the "Yes" button sits outside the form
	if req, err = postForm(ctx, action, values); err != nil {
		t.Fatal(err)
	}
	status, location, body, err := send(browser, req)
	if err == nil && location == "" {
		err = fmt.Errorf("interop: logout: status %d: %s", status, pageText(body))
	}
	if err != nil {
		t.Fatal(err)
	}
	next, err := req.URL.Parse(location)
	if err != nil {
		t.Fatalf("interop: logout: bad redirect %q: %v", location, err)
	}
	return next
}

// authorize is login without the test: it returns the first redirect that leaves the
// provider, error redirects included, and an error when the provider shows an error
// page or the walk does not end within maxLoginSteps requests. Only requests to the
// provider are sent. Forms are submitted with every field they render: login and
// password both get username; hidden fields keep their values.
func (p *provider) authorize(ctx context.Context, c *http.Client, authorizeURL, username string) (*url.URL, error) {
	browser := noRedirects(c)
	providerHost := hostOf(p.Issuer)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, fmt.Errorf("interop: login: %w", err)
	}
	for range maxLoginSteps {
		if req.URL.Host != providerHost {
			return nil, fmt.Errorf("interop: login: refusing to request %s: not the provider", req.URL.Redacted())
		}
		status, location, body, err := send(browser, req)
		if err != nil {
			return nil, err
		}
		switch {
		case location != "":
			next, err := req.URL.Parse(location)
			if err != nil {
				return nil, fmt.Errorf("interop: login: bad redirect %q: %w", location, err)
			}
			if next.Host != providerHost {
				return next, nil
			}
			req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil)
			if err != nil {
				return nil, fmt.Errorf("interop: login: %w", err)
			}
		case status == http.StatusOK && formRE.Match(body):
			action, values, err := readForm(req.URL, body, providerHost, username)
			if err != nil {
				return nil, err
			}
			if req, err = postForm(ctx, action, values); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("interop: login: %s %s: status %d: %s", req.Method, req.URL.Path, status, pageText(body))
		}
	}
	return nil, fmt.Errorf("interop: login: no redirect to the client after %d requests", maxLoginSteps)
}

// noRedirects returns a copy of c (nil: a default client) that has a cookie jar and
// returns redirects instead of following them.
func noRedirects(c *http.Client) *http.Client {
	browser := http.Client{Timeout: 5 * time.Second}
	if c != nil {
		browser = *c
	}
	if browser.Jar == nil {
		browser.Jar, _ = cookiejar.New(nil) // never fails without options
	}
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser
}

// send does one request without following redirects; location is set for a 3xx.
func send(c *http.Client, req *http.Request) (status int, location string, body []byte, err error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", nil, fmt.Errorf("interop: %w", err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		return 0, "", nil, fmt.Errorf("interop: %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		location = resp.Header.Get("Location")
		if location == "" {
			return 0, "", nil, fmt.Errorf("interop: %s %s: status %d without Location", req.Method, req.URL.Path, resp.StatusCode)
		}
	}
	return resp.StatusCode, location, body, nil
}

// The devInteractions pages are oidc-provider's own templates: one POST form each,
// attributes in double quotes. Small regular expressions are enough to read them.
var (
	formRE   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	attrRE   = regexp.MustCompile(`(?is)([a-z_:][-a-z0-9_:.]*)\s*=\s*"([^"]*)"`)
	hiddenRE = regexp.MustCompile(`(?is)<(?:head|style|script)\b.*?</(?:head|style|script)>`)
	tagRE    = regexp.MustCompile(`(?s)<[^>]*>`)
)

// readForm reads the first form on page and fills it in for username.
func readForm(page *url.URL, body []byte, providerHost, username string) (action *url.URL, values url.Values, err error) {
	m := formRE.FindSubmatch(body)
	if m == nil {
		return nil, nil, fmt.Errorf("interop: no form on %s: %s", page.Path, pageText(body))
	}
	form := attrs(m[1])
	if method := form["method"]; !strings.EqualFold(method, "post") {
		return nil, nil, fmt.Errorf("interop: form on %s has method %q, want post", page.Path, method)
	}
	action, err = page.Parse(form["action"])
	if err != nil {
		return nil, nil, fmt.Errorf("interop: form on %s: bad action %q: %w", page.Path, form["action"], err)
	}
	if action.Host != providerHost {
		// response_mode=form_post ends in such a form; only query is supported.
		return nil, nil, fmt.Errorf("interop: form on %s posts to %s, not the provider (form_post is not supported)", page.Path, action.Redacted())
	}
	values = url.Values{}
	for _, input := range inputRE.FindAllSubmatch(m[2], -1) {
		a := attrs(input[1])
		name := a["name"]
		switch {
		case name == "":
		case name == "login" || strings.EqualFold(a["type"], "password"):
			values.Set(name, username)
		default:
			values.Set(name, a["value"])
		}
	}
	return action, values, nil
}

// postForm builds the POST of a form.
func postForm(ctx context.Context, action *url.URL, values url.Values) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(values.Encode()))
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// attrs returns the double-quoted attributes of a tag, names lower-cased, values
// unescaped.
func attrs(tag []byte) map[string]string {
	out := map[string]string{}
	for _, m := range attrRE.FindAllSubmatch(tag, -1) {
		out[strings.ToLower(string(m[1]))] = html.UnescapeString(string(m[2]))
	}
	return out
}

// pageText returns the visible text of an HTML page, shortened for an error
// message. oidc-provider's error page reads "error: invalid_request
// error_description: ...".
func pageText(body []byte) string {
	text := hiddenRE.ReplaceAll(body, nil)
	text = tagRE.ReplaceAll(text, []byte(" "))
	return snippet([]byte(html.UnescapeString(string(text))))
}
