package client_test

import (
	"context"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// browserClient follows the provider's redirect to the loopback server, as
// a browser would.
var browserClient = &http.Client{Timeout: 5 * time.Second}

// visit GETs u with browserClient and returns the final status and body.
func visit(t testing.TB, u string) (int, string) {
	t.Helper()
	resp, err := browserClient.Get(u)
	if err != nil {
		t.Errorf("GET %s: %v", u, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// registerRedirect registers the redirect URI of authURL for the public
// client, as a server accepting any loopback port would.
func registerRedirect(t testing.TB, f *fixture, authURL string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	redirect := u.Query().Get("redirect_uri")
	if err := f.srv.AddClient(oidctest.Client{ID: publicID, RedirectURIs: []string{redirect}}); err != nil {
		t.Fatal(err)
	}
	return redirect
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// wantClosed checks that the loopback listener of redirect is gone: nothing
// accepts connections on its port, or what does (another process may take
// a freed port at once) is not LoopbackLogin's server, which answers a
// request without state with 400 and its Content-Security-Policy.
func wantClosed(t testing.TB, redirect string) {
	t.Helper()
	u, err := url.Parse(redirect)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, time.Second)
	if err != nil {
		return
	}
	conn.Close()
	hc := &http.Client{Timeout: time.Second}
	resp, err := hc.Get(redirect)
	if err != nil {
		return
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusBadRequest && resp.Header.Get("Content-Security-Policy") == "default-src 'none'" {
		t.Fatalf("%s still serves the login", u.Host)
	}
}

// loopbackLogin runs LoopbackLogin for the public client of f, with the
// browser played by browse on the test's goroutine (it gets the auth URL
// after its redirect URI is registered), and returns its result and the
// redirect URI.
func loopbackLogin(t testing.TB, f *fixture, edit func(*client.Config), cfg client.LoopbackConfig, browse func(authURL, redirect string)) (*client.Token, string, error) {
	t.Helper()
	c := f.client(t, publicID, func(cfg *client.Config) {
		cfg.RedirectURL = ""
		if edit != nil {
			edit(cfg)
		}
	})
	return runLoopback(t, c, cfg, func(authURL string) string {
		redirect := registerRedirect(t, f, authURL)
		browse(authURL, redirect)
		return redirect
	})
}

// runLoopback runs LoopbackLogin in the background; its Open hands the
// auth URL to browse, which runs on the test's goroutine and returns the
// redirect URI.
func runLoopback(t testing.TB, c *client.Client, cfg client.LoopbackConfig, browse func(authURL string) string) (*client.Token, string, error) {
	t.Helper()
	urls := make(chan string, 1)
	cfg.Open = func(authURL string) error {
		urls <- authURL
		return nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	type result struct {
		tok *client.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := c.LoopbackLogin(ctx, cfg)
		done <- result{tok, err}
	}()
	var redirect string
	select {
	case u := <-urls:
		redirect = browse(u)
	case r := <-done:
		return r.tok, "", r.err
	}
	r := <-done
	return r.tok, redirect, r.err
}

func TestLoopbackLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	var status int
	var page, authURL string
	tok, redirect, err := loopbackLogin(t, f, nil, client.LoopbackConfig{}, func(u, _ string) {
		authURL = u
		status, page = visit(t, u)
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.IDToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token %+v", tok)
	}
	if !strings.HasPrefix(redirect, "http://127.0.0.1:") || !strings.HasSuffix(redirect, "/callback") {
		t.Fatalf("redirect URI %q", redirect)
	}
	if status != http.StatusOK || !strings.Contains(page, "close this window") {
		t.Fatalf("browser got %d %q", status, page)
	}
	q, _ := url.Parse(authURL)
	if p := q.Query(); p.Get("code_challenge_method") != "S256" || p.Get("state") == "" || p.Get("nonce") == "" {
		t.Fatalf("authorization request %v", p)
	}
	reqs := f.srv.Requests(oidctest.EndpointToken)
	if len(reqs) != 1 || reqs[0].Form.Get("redirect_uri") != redirect || reqs[0].Form.Get("code_verifier") == "" {
		t.Fatalf("token requests %v", reqs)
	}
	wantClosed(t, redirect)
}

func TestLoopbackLoginOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      client.LoopbackConfig
		edit     func(*client.Config)
		port     bool // a fixed port, registered before the request
		formPost bool
		check    func(t *testing.T, authURL, redirect, page string)
	}{
		{name: "PAR", edit: func(cfg *client.Config) { cfg.UsePAR = true }, port: true,
			check: func(t *testing.T, authURL, _, _ string) {
				q, _ := url.Parse(authURL)
				if q.Query().Get("request_uri") == "" || q.Query().Has("redirect_uri") {
					t.Fatalf("authorization URL %s not pushed", authURL)
				}
			}},
		{name: "path, host and page", cfg: client.LoopbackConfig{Host: "localhost", Path: "/cb/done", SuccessHTML: "<p>done</p>"},
			check: func(t *testing.T, _, redirect, page string) {
				if !strings.HasPrefix(redirect, "http://localhost:") || !strings.HasSuffix(redirect, "/cb/done") || page != "<p>done</p>" {
					t.Fatalf("redirect %q, page %q", redirect, page)
				}
			}},
		{name: "options", cfg: client.LoopbackConfig{Options: []client.AuthOption{client.Scopes("openid"), client.RedirectURL("https://app.example/cb")}},
			check: func(t *testing.T, authURL, redirect, _ string) {
				q, _ := url.Parse(authURL)
				if q.Query().Get("scope") != "openid" || q.Query().Get("redirect_uri") != redirect {
					t.Fatalf("authorization URL %s", authURL)
				}
			}},
		{name: "form post", cfg: client.LoopbackConfig{Options: []client.AuthOption{client.FormPost()}}, formPost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			cfg := tt.cfg
			if tt.port {
				cfg.Port = freePort(t)
				redirect := "http://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/callback"
				if err := f.srv.AddClient(oidctest.Client{ID: publicID, RedirectURIs: []string{redirect}}); err != nil {
					t.Fatal(err)
				}
			}
			var authURL, page string
			browse := func(u, redirect string) {
				authURL = u
				if !tt.formPost {
					_, page = visit(t, u)
					return
				}
				page = postForm(t, authorize(t, u), redirect)
			}
			if tt.port {
				c := f.client(t, publicID, tt.edit)
				redirect := "http://127.0.0.1:" + strconv.Itoa(cfg.Port) + "/callback"
				if _, _, err := runLoopback(t, c, cfg, func(u string) string { browse(u, redirect); return redirect }); err != nil {
					t.Fatal(err)
				}
				tt.check(t, authURL, redirect, page)
				return
			}
			_, redirect, err := loopbackLogin(t, f, tt.edit, cfg, browse)
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, authURL, redirect, page)
			}
			if tt.formPost && len(f.srv.Requests(oidctest.EndpointToken)) != 1 {
				t.Fatal("form_post response not redeemed")
			}
		})
	}
}

// postForm posts params to redirect, as the provider's form_post page
// makes a browser do, and returns the page.
func postForm(t testing.TB, params url.Values, redirect string) string {
	t.Helper()
	resp, err := browserClient.PostForm(redirect, params)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLoopbackLoginIgnoresStrayRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	tok, _, err := loopbackLogin(t, f, nil, client.LoopbackConfig{}, func(authURL, redirect string) {
		u, _ := url.Parse(authURL)
		state := u.Query().Get("state")
		base, _ := url.Parse(redirect)
		stray := []struct {
			name   string
			req    func() (*http.Response, error)
			status int
		}{
			{"wrong state", func() (*http.Response, error) { return browserClient.Get(redirect + "?code=x&state=forged") }, 400},
			{"no state", func() (*http.Response, error) { return browserClient.Get(redirect + "?error=access_denied") }, 400},
			{"repeated state", func() (*http.Response, error) {
				return browserClient.Get(redirect + "?code=x&state=forged&state=" + url.QueryEscape(state))
			}, 400},
			{"other path", func() (*http.Response, error) {
				return browserClient.Get("http://" + base.Host + "/other?code=x&state=" + url.QueryEscape(state))
			}, 404},
			{"other host (DNS rebinding)", func() (*http.Response, error) {
				r, _ := http.NewRequest(http.MethodGet, redirect+"?code=x&state="+url.QueryEscape(state), nil)
				r.Host = "evil.example:" + base.Port()
				return browserClient.Do(r)
			}, 400},
			{"other method", func() (*http.Response, error) {
				r, _ := http.NewRequest(http.MethodPut, redirect+"?code=x&state="+url.QueryEscape(state), nil)
				return browserClient.Do(r)
			}, 405},
			{"oversized form", func() (*http.Response, error) {
				body := "state=" + url.QueryEscape(state) + "&code=x&pad=" + strings.Repeat("a", 100<<10)
				return browserClient.Post(redirect, "application/x-www-form-urlencoded", strings.NewReader(body))
			}, 400},
		}
		for _, s := range stray {
			resp, err := s.req()
			if err != nil {
				t.Errorf("%s: %v", s.name, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != s.status {
				t.Errorf("%s: status %d, want %d", s.name, resp.StatusCode, s.status)
			}
		}
		if status, _ := visit(t, authURL); status != http.StatusOK {
			t.Errorf("real response: status %d", status)
		}
		// The state is used up: a replay is refused.
		resp, err := browserClient.Get(redirect + "?code=x&state=" + url.QueryEscape(state))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 400 {
				t.Errorf("replayed response: status %d", resp.StatusCode)
			}
		}
	})
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("LoopbackLogin after stray requests: %v", err)
	}
}

func TestLoopbackLoginFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults oidctest.Faults
		check  func(t *testing.T, err error)
		page   string
	}{
		{name: "error response", faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) {
			p.Del("code")
			p.Set("error", "access_denied")
			p.Set("error_description", "<script>alert(1)</script>")
		}}, check: func(t *testing.T, err error) {
			var ae *client.AuthError
			if !errors.As(err, &ae) || ae.Code != "access_denied" {
				t.Fatalf("error %v, want an access_denied *AuthError", err)
			}
		}, page: "access_denied"},
		{name: "error code with markup", faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) {
			p.Del("code")
			p.Set("error", "<b>x</b>")
		}}, check: func(t *testing.T, err error) {
			var ae *client.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v, want an *AuthError", err)
			}
		}, page: html.EscapeString("<b>x</b>")},
		{name: "iss mismatch", faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Set("iss", "https://evil.example") }},
			check: func(t *testing.T, err error) { wantIs(t, err, client.ErrIssuerMismatch) }, page: "could not be completed"},
		{name: "token error", faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{
			oidctest.EndpointToken: {Status: 400, Body: `{"error":"invalid_grant"}`}}},
			check: func(t *testing.T, err error) { wantIs(t, err, client.ErrInvalidGrant) }, page: "could not be completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			f.srv.SetFaults(tt.faults)
			var status int
			var page string
			tok, redirect, err := loopbackLogin(t, f, nil, client.LoopbackConfig{}, func(u, _ string) { status, page = visit(t, u) })
			if tok != nil || err == nil {
				t.Fatal("LoopbackLogin succeeded")
			}
			tt.check(t, err)
			if status != http.StatusBadRequest || !strings.Contains(page, tt.page) || strings.Contains(page, "<script>") || strings.Contains(page, "<b>") {
				t.Fatalf("browser got %d %q", status, page)
			}
			wantClosed(t, redirect)
		})
	}
}

func TestLoopbackLoginEnds(t *testing.T) {
	t.Parallel()
	errOpen := errors.New("no browser")
	tests := []struct {
		name    string
		open    func(string) error
		timeout time.Duration
		wantErr error
	}{
		{"ctx timeout", func(string) error { return nil }, 100 * time.Millisecond, context.DeadlineExceeded},
		{"Open fails", func(string) error { return errOpen }, 5 * time.Second, errOpen},
		{"Open blocks until timeout", func(string) error { time.Sleep(time.Second); return nil }, 100 * time.Millisecond, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			c := f.client(t, publicID, nil)
			redirects := make(chan string, 1)
			cfg := client.LoopbackConfig{Open: func(u string) error {
				q, _ := url.Parse(u)
				redirects <- q.Query().Get("redirect_uri")
				return tt.open(u)
			}}
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				_, err := c.LoopbackLogin(ctx, cfg)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(tt.timeout + 5*time.Second):
				t.Fatal("LoopbackLogin did not end")
			}
			wantIs(t, err, tt.wantErr)
			if d := time.Since(start); d > tt.timeout+time.Second {
				t.Fatalf("LoopbackLogin returned after %v", d)
			}
			wantClosed(t, <-redirects)
		})
	}
}

func TestLoopbackConfigRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, publicID, nil)
	open := func(string) error { t.Error("Open called"); return nil }
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second) // only if a refusal fails
	defer cancel()
	for name, cfg := range map[string]client.LoopbackConfig{
		"no Open":             {},
		"public host":         {Open: open, Host: "example.com"},
		"any address":         {Open: open, Host: "0.0.0.0"},
		"private IP":          {Open: open, Host: "192.168.1.1"},
		"negative port":       {Open: open, Port: -1},
		"port too high":       {Open: open, Port: 70000},
		"relative path":       {Open: open, Path: "callback"},
		"path with query":     {Open: open, Path: "/cb?x=1"},
		"reserved option":     {Open: open, Options: []client.AuthOption{client.Param("state", "fixed")}},
		"host with a port":    {Open: open, Host: "127.0.0.1:80"},
		"localhost subdomain": {Open: open, Host: "evil.localhost"},
	} {
		if _, err := c.LoopbackLogin(ctx, cfg); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: LoopbackLogin: %v, want a refusal", name, err)
		}
	}
	// A client that allows http anywhere still listens on loopback only.
	insecure := f.client(t, publicID, func(cfg *client.Config) { cfg.InsecureAllowHTTP = true })
	for _, host := range []string{"0.0.0.0", "::"} {
		if _, err := insecure.LoopbackLogin(ctx, client.LoopbackConfig{Open: open, Host: host}); err == nil || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("host %s: LoopbackLogin: %v, want a refusal", host, err)
		}
	}
}
