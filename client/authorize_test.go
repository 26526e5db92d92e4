package client_test

import (
	"encoding/base64"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// query returns the query of an authorization URL.
func query(t testing.TB, req *client.AuthRequest) url.Values {
	t.Helper()
	u, err := url.Parse(req.URL)
	if err != nil {
		t.Fatalf("authorization URL: %v", err)
	}
	return u.Query()
}

func TestAuthCodeURLSendsPKCEStateAndNonce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, publicID, nil)
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	q := query(t, req)
	want := map[string]string{
		"response_type":         "code",
		"client_id":             publicID,
		"redirect_uri":          redirectURI,
		"scope":                 "openid profile offline_access",
		"state":                 req.State,
		"nonce":                 req.Nonce,
		"code_challenge":        oauth2.S256ChallengeFromVerifier(req.Verifier),
		"code_challenge_method": "S256",
	}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.HasPrefix(req.URL, f.srv.Issuer+"/authorize?") {
		t.Errorf("URL %s is not at the authorization endpoint", req.URL)
	}
	if req.Issuer != f.srv.Issuer || req.RedirectURL != redirectURI {
		t.Errorf("AuthRequest records issuer %q and redirect %q", req.Issuer, req.RedirectURL)
	}
}

func TestAuthCodeURLSecretsAreFreshAndLong(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, publicID, nil)
	seen := map[string]bool{}
	for range 20 {
		req, err := c.AuthCodeURL(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]string{"state": req.State, "nonce": req.Nonce, "verifier": req.Verifier} {
			b, err := base64.RawURLEncoding.DecodeString(v)
			if err != nil || len(b) < 16 {
				t.Fatalf("%s %q is not base64url of at least 128 bits", name, v)
			}
			if seen[v] {
				t.Fatalf("%s %q was used before", name, v)
			}
			seen[v] = true
		}
	}
}

func TestProviderEnforcesPKCE(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	code, err := c.ParseResponse(authorize(t, req.URL), req)
	if err != nil {
		t.Fatal(err)
	}
	wrong := *req
	wrong.Verifier = oauth2.GenerateVerifier()
	_, err = c.Exchange(t.Context(), code, &wrong)
	var te *client.TokenError
	if !errors.As(err, &te) || !errors.Is(err, client.ErrInvalidGrant) || !strings.Contains(te.Description, "code_verifier") {
		t.Fatalf("Exchange with a wrong verifier: %v, want invalid_grant about the verifier", err)
	}
	if got := f.srv.Requests(oidctest.EndpointToken)[0].Form.Get("code_verifier"); got != wrong.Verifier {
		t.Fatalf("code_verifier sent = %q, want the request's", got)
	}
}

func TestAuthOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	tests := []struct {
		name string
		opts []client.AuthOption
		want url.Values
	}{
		{"prompt", []client.AuthOption{client.Prompt("login", "consent")}, url.Values{"prompt": {"login consent"}}},
		{"max_age", []client.AuthOption{client.MaxAge(90 * time.Second)}, url.Values{"max_age": {"90"}}},
		{"max_age zero", []client.AuthOption{client.MaxAge(0)}, url.Values{"max_age": {"0"}}},
		{"login_hint", []client.AuthOption{client.LoginHint("ada@example.com")}, url.Values{"login_hint": {"ada@example.com"}}},
		{"acr_values", []client.AuthOption{client.ACRValues("urn:mfa", "urn:pwd")}, url.Values{"acr_values": {"urn:mfa urn:pwd"}}},
		{"form_post", []client.AuthOption{client.FormPost()}, url.Values{"response_mode": {"form_post"}}},
		{"resources", []client.AuthOption{client.Resource("https://a.example"), client.Resource("https://b.example/api")},
			url.Values{"resource": {"https://a.example", "https://b.example/api"}}},
		{"scopes", []client.AuthOption{client.Scopes("openid", "email")}, url.Values{"scope": {"openid email"}}},
		{"no scopes", []client.AuthOption{client.Scopes()}, url.Values{"scope": nil}},
		{"redirect URL", []client.AuthOption{client.RedirectURL(redirectURI + "/other")}, url.Values{"redirect_uri": {redirectURI + "/other"}}},
		{"param", []client.AuthOption{client.Param("ui_locales", "fr")}, url.Values{"ui_locales": {"fr"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := c.AuthCodeURL(t.Context(), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			q := query(t, req)
			for k, v := range tt.want {
				if !slices.Equal(q[k], v) {
					t.Errorf("%s = %q, want %q", k, q[k], v)
				}
			}
			// The provider accepts the request and the flow completes.
			code, err := c.ParseResponse(authorize(t, req.URL), req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Exchange(t.Context(), code, req); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAuthOptionsRejected(t *testing.T) {
	t.Parallel()
	c, err := client.New(client.Config{
		ClientID:    "app",
		Endpoint:    client.Endpoint{AuthURL: "https://op.example/a", TokenURL: "https://op.example/t"},
		RedirectURL: "https://app.example/cb",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opt  client.AuthOption
	}{
		{"state", client.Param("state", "chosen")},
		{"nonce", client.Param("nonce", "chosen")},
		{"code_challenge", client.Param("code_challenge", "x")},
		{"code_challenge_method", client.Param("code_challenge_method", "plain")},
		{"redirect_uri", client.Param("redirect_uri", "https://evil.example")},
		{"client_id", client.Param("client_id", "other")},
		{"response_type", client.Param("response_type", "token")},
		{"request_uri", client.Param("request_uri", "urn:x")},
		{"relative resource", client.Resource("/api")},
		{"resource with fragment", client.Resource("https://api.example/#x")},
		{"negative max_age", client.MaxAge(-time.Second)},
		{"insecure redirect", client.RedirectURL("http://app.example/cb")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if req, err := c.AuthCodeURL(t.Context(), tt.opt); err == nil {
				t.Fatalf("AuthCodeURL succeeded: %s", req.URL)
			}
		})
	}
}

func TestAuthCodeURLKeepsAuthURLQuery(t *testing.T) {
	t.Parallel()
	c, err := client.New(client.Config{
		ClientID:    "app",
		Endpoint:    client.Endpoint{AuthURL: "https://op.example/a?p=signin&state=fixed", TokenURL: "https://op.example/t"},
		RedirectURL: "https://app.example/cb",
	})
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	q := query(t, req)
	if q.Get("p") != "signin" || len(q["state"]) != 1 || q.Get("state") != req.State {
		t.Fatalf("query %v: want p kept and state replaced", q)
	}
}

func TestAuthCodeURLNeedsRedirectAndAuthURL(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]client.Config{
		"no redirect": {ClientID: "a", Endpoint: client.Endpoint{AuthURL: "https://op.example/a", TokenURL: "https://op.example/t"}},
		"no auth URL": {ClientID: "a", Endpoint: client.Endpoint{TokenURL: "https://op.example/t"}, RedirectURL: "https://app.example/cb"},
	} {
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AuthCodeURL(t.Context()); err == nil {
			t.Errorf("%s: AuthCodeURL succeeded", name)
		}
	}
}

func TestPushedAuthorizationRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		requirePAR bool // at the provider and in Endpoint
		usePAR     bool
		clientID   string
	}{
		{"UsePAR basic", false, true, basicID},
		{"UsePAR private_key_jwt", false, true, ecJWTID},
		{"UsePAR public", false, true, publicID},
		{"RequirePAR", true, false, basicID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{RequirePAR: tt.requirePAR})
			c := f.client(t, tt.clientID, func(cfg *client.Config) {
				cfg.UsePAR = tt.usePAR
				cfg.Endpoint.RequirePAR = tt.requirePAR
			})
			req, err := c.AuthCodeURL(t.Context(), client.Prompt("login"), client.Resource("https://api.example"))
			if err != nil {
				t.Fatal(err)
			}
			q := query(t, req)
			if len(q) != 2 || q.Get("client_id") != tt.clientID || !strings.HasPrefix(q.Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
				t.Fatalf("authorization URL query %v, want only client_id and request_uri", q)
			}
			pushes := f.srv.Requests(oidctest.EndpointPAR)
			if len(pushes) != 1 {
				t.Fatalf("%d pushes, want 1", len(pushes))
			}
			push := pushes[0]
			if push.Form.Get("state") != req.State || push.Form.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(req.Verifier) ||
				push.Form.Get("prompt") != "login" || push.Form.Get("resource") != "https://api.example" {
				t.Fatalf("pushed parameters %v lack the request's", push.Form)
			}
			assertAuthenticated(t, tt.clientID, push)
			_, err = c.Exchange(t.Context(), mustCode(t, c, req), req)
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// mustCode runs req through the provider and returns the code.
func mustCode(t testing.TB, c *client.Client, req *client.AuthRequest) string {
	t.Helper()
	code, err := c.ParseResponse(authorize(t, req.URL), req)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	return code
}

func TestPushedAuthorizationRequestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	tests := []struct {
		name    string
		failure oidctest.Failure
		check   func(error) bool
	}{
		{"error response", oidctest.Failure{Status: 400, Body: `{"error":"invalid_request","error_description":"no"}`},
			func(err error) bool {
				var te *client.TokenError
				return errors.As(err, &te) && te.Code == "invalid_request" && te.StatusCode == 400
			}},
		{"no request_uri", oidctest.Failure{Status: 201, Body: `{"expires_in":60}`},
			func(err error) bool { return errors.Is(err, client.ErrMalformedResponse) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the faults are the server's.
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointPAR: tt.failure}})
			t.Cleanup(func() { f.srv.SetFaults(oidctest.Faults{}) })
			c := f.client(t, basicID, func(cfg *client.Config) { cfg.UsePAR = true })
			_, err := c.AuthCodeURL(t.Context())
			if err == nil || !tt.check(err) {
				t.Fatalf("AuthCodeURL: %v", err)
			}
		})
	}
}
