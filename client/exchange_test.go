package client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// assertAuthenticated checks that r carries the credentials of clientID in
// the shape of its authentication method, and nothing else.
func assertAuthenticated(t testing.TB, clientID string, r oidctest.Request) {
	t.Helper()
	authz := r.Header.Get("Authorization")
	form := r.Form
	switch clientID {
	case basicID:
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(basicID)+":"+url.QueryEscape(secret)))
		if authz != want || form.Has("client_secret") || form.Has("client_assertion") {
			t.Fatalf("basic: Authorization %q, form %v", authz, form)
		}
	case postID:
		if authz != "" || form.Get("client_id") != postID || form.Get("client_secret") != secret {
			t.Fatalf("post: Authorization %q, form %v", authz, form)
		}
	case ecJWTID, rsaJWTID:
		if authz != "" || form.Has("client_secret") || form.Get("client_id") != clientID ||
			form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			t.Fatalf("private_key_jwt: Authorization %q, form %v", authz, form)
		}
	case publicID:
		if authz != "" || form.Get("client_id") != publicID || form.Has("client_secret") || form.Has("client_assertion") {
			t.Fatalf("none: Authorization %q, form %v", authz, form)
		}
	default:
		t.Fatalf("unknown client %q", clientID)
	}
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	for _, id := range []string{basicID, postID, ecJWTID, rsaJWTID, publicID} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			c := f.client(t, id, nil)
			_, tok := f.login(t, c)
			if tok.AccessToken == "" || tok.IDToken == "" || tok.RefreshToken == "" {
				t.Fatalf("token %+v lacks access, ID or refresh token", tok)
			}
			var mine []oidctest.Request
			for _, r := range f.srv.Requests(oidctest.EndpointToken) {
				if r.Form.Get("client_id") == id || strings.Contains(r.Header.Get("Authorization"), "Basic") && id == basicID {
					mine = append(mine, r)
				}
			}
			if len(mine) != 1 {
				t.Fatalf("%d token requests of %s, want 1", len(mine), id)
			}
			assertAuthenticated(t, id, mine[0])
			if id == ecJWTID || id == rsaJWTID {
				checkAssertion(t, f.srv.Issuer, id, mine[0].Form.Get("client_assertion"))
			}
		})
	}
}

// checkAssertion checks the claims of a private_key_jwt assertion.
func checkAssertion(t testing.TB, issuer, clientID, assertion string) {
	t.Helper()
	claims := jwtClaims(t, assertion)
	if claims["aud"] != issuer {
		t.Errorf("assertion aud = %v, want the issuer %s alone", claims["aud"], issuer)
	}
	if claims["iss"] != clientID || claims["sub"] != clientID {
		t.Errorf("assertion iss %v, sub %v, want %s", claims["iss"], claims["sub"], clientID)
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if jti, _ := claims["jti"].(string); len(jti) < 22 {
		t.Errorf("assertion jti %q is too short", jti)
	}
	if exp <= iat || exp-iat > 300 {
		t.Errorf("assertion lives from %v to %v, want a short lifetime", iat, exp)
	}
}

func TestPrivateKeyJWTAssertionsAreSingleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, ecJWTID, nil)
	_, tok := f.login(t, c)
	if _, err := c.Refresh(t.Context(), tok.RefreshToken); err != nil {
		t.Fatalf("second assertion refused: %v", err) // oidctest refuses a replayed jti
	}
	reqs := f.srv.Requests(oidctest.EndpointToken)
	a, b := jwtClaims(t, reqs[0].Form.Get("client_assertion")), jwtClaims(t, reqs[1].Form.Get("client_assertion"))
	if a["jti"] == b["jti"] {
		t.Fatalf("two assertions share jti %v", a["jti"])
	}
}

func TestWrongCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	for _, id := range []string{basicID, postID} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			good := f.client(t, id, nil)
			bad := f.client(t, id, func(cfg *client.Config) { cfg.ClientSecret = "wrong" })
			req, err := good.AuthCodeURL(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			_, err = bad.Exchange(t.Context(), mustCode(t, good, req), req)
			var te *client.TokenError
			if !errors.As(err, &te) || te.Code != "invalid_client" || te.StatusCode != http.StatusUnauthorized {
				t.Fatalf("Exchange with a wrong secret: %v, want invalid_client 401", err)
			}
			if errors.Is(err, client.ErrInvalidGrant) {
				t.Fatal("invalid_client matches ErrInvalidGrant")
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		failure oidctest.Failure
		check   func(t *testing.T, err error)
	}{
		{"invalid_grant", oidctest.Failure{Status: 400, Body: `{"error":"invalid_grant","error_description":"code expired","error_uri":"https://op.example/e"}`},
			func(t *testing.T, err error) {
				te := asTokenError(t, err)
				if te.Code != "invalid_grant" || te.Description != "code expired" || te.URI != "https://op.example/e" || te.StatusCode != 400 {
					t.Fatalf("TokenError %+v", te)
				}
				if !errors.Is(err, client.ErrInvalidGrant) {
					t.Fatal("not ErrInvalidGrant")
				}
				if !strings.Contains(err.Error(), "invalid_grant") || strings.Count(err.Error(), "client:") != 1 {
					t.Fatalf("message %q", err)
				}
			}},
		{"error with status 200", oidctest.Failure{Status: 200, Body: `{"error":"invalid_request"}`},
			func(t *testing.T, err error) {
				if te := asTokenError(t, err); te.Code != "invalid_request" || te.StatusCode != 200 {
					t.Fatalf("TokenError %+v", te)
				}
			}},
		{"server error without JSON", oidctest.Failure{Status: 502, Body: "bad gateway", ContentType: "text/plain"},
			func(t *testing.T, err error) {
				if te := asTokenError(t, err); te.Code != "" || te.StatusCode != 502 || string(te.Body) != "bad gateway" {
					t.Fatalf("TokenError %+v", te)
				}
			}},
		{"no access token", oidctest.Failure{Status: 200, Body: `{"token_type":"Bearer"}`},
			func(t *testing.T, err error) { wantIs(t, err, client.ErrMalformedResponse) }},
		{"access token not a string", oidctest.Failure{Status: 200, Body: `{"access_token":42}`},
			func(t *testing.T, err error) { wantIs(t, err, client.ErrMalformedResponse) }},
		{"bad expires_in", oidctest.Failure{Status: 200, Body: `{"access_token":"a","expires_in":"soon"}`},
			func(t *testing.T, err error) { wantIs(t, err, client.ErrMalformedResponse) }},
		{"not JSON", oidctest.Failure{Status: 200, Body: "access_token=a", ContentType: "text/plain"},
			func(t *testing.T, err error) { wantIs(t, err, client.ErrMalformedResponse) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			c := f.client(t, basicID, nil)
			req, err := c.AuthCodeURL(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			code := mustCode(t, c, req)
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: tt.failure}})
			tok, err := c.Exchange(t.Context(), code, req)
			if err == nil {
				t.Fatalf("Exchange succeeded: %+v", tok)
			}
			tt.check(t, err)
		})
	}
}

func asTokenError(t testing.TB, err error) *client.TokenError {
	t.Helper()
	var te *client.TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v is no *TokenError", err)
	}
	return te
}

func wantIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	code := mustCode(t, c, req)
	if _, err := c.Exchange(t.Context(), code, req); err != nil {
		t.Fatal(err)
	}
	_, err = c.Exchange(t.Context(), code, req)
	wantIs(t, err, client.ErrInvalidGrant)
}

func TestExchangeRefusesForeignRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	req, err := c.AuthCodeURL(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	code := mustCode(t, c, req)
	foreign := *req
	foreign.Issuer = "https://other.example"
	_, err = c.Exchange(t.Context(), code, &foreign)
	wantIs(t, err, client.ErrIssuerMismatch)
	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 0 {
		t.Fatalf("%d token requests, want none", n)
	}
	for name, r := range map[string]*client.AuthRequest{"nil": nil, "no verifier": {State: "s", Issuer: f.srv.Issuer}} {
		if _, err := c.Exchange(t.Context(), code, r); err == nil {
			t.Errorf("%s request: Exchange succeeded", name)
		}
	}
}

func TestExchangeTimesOut(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*client.Config)
		ctx  func(t *testing.T) context.Context
		want error
	}{
		{"HTTP client timeout", func(cfg *client.Config) { cfg.HTTPClient = &http.Client{Timeout: 200 * time.Millisecond} },
			func(t *testing.T) context.Context { return t.Context() }, nil},
		{"context deadline", nil, func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			c := f.client(t, basicID, tt.edit)
			req, err := c.AuthCodeURL(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			code := mustCode(t, c, req)
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: 2 * time.Second}}})
			start := time.Now()
			_, err = c.Exchange(tt.ctx(t), code, req)
			if elapsed := time.Since(start); err == nil || elapsed > time.Second {
				t.Fatalf("Exchange took %v and returned %v, want a timeout after 200ms", elapsed, err)
			}
			if tt.want != nil {
				wantIs(t, err, tt.want)
			}
		})
	}
}

// countingTransport counts the response body bytes its caller reads.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 64 << 10
	huge := `{"access_token":"` + strings.Repeat("x", 5<<20) + `"}`
	tests := []struct {
		name     string
		limit    int64
		tokenURL func(t *testing.T, f *fixture) string
		maxRead  int64
	}{
		{"streamed, default limit", 0, func(t *testing.T, f *fixture) string {
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Status: 200, Body: huge}}})
			return f.srv.Issuer + "/token"
		}, client.DefaultMaxResponseBytes + 1},
		{"streamed, configured limit", limit, func(t *testing.T, f *fixture) string {
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Status: 200, Body: huge}}})
			return f.srv.Issuer + "/token"
		}, limit + 1},
		{"announced by Content-Length", limit, func(t *testing.T, f *fixture) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(huge)))
				_, _ = io.WriteString(w, huge)
			}))
			t.Cleanup(srv.Close)
			return srv.URL + "/token"
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			counter := &countingTransport{}
			c := f.client(t, basicID, func(cfg *client.Config) {
				cfg.Endpoint.TokenURL = tt.tokenURL(t, f)
				cfg.MaxResponseBytes = tt.limit
				cfg.HTTPClient = &http.Client{Transport: counter, Timeout: 5 * time.Second}
			})
			_, err := c.Refresh(t.Context(), "any")
			wantIs(t, err, client.ErrResponseTooLarge)
			if n := counter.n.Load(); n > tt.maxRead {
				t.Fatalf("read %d bytes of the response, want at most %d", n, tt.maxRead)
			}
		})
	}
}

func TestTokenEndpointRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	redirector := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusTemporaryRedirect))
	t.Cleanup(redirector.Close)
	for name, hc := range map[string]*http.Client{"default client": nil, "caller's client": {}} {
		c, err := client.New(client.Config{
			ClientID: "app", ClientSecret: "s", HTTPClient: hc,
			Endpoint: client.Endpoint{TokenURL: redirector.URL + "/token"},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Refresh(t.Context(), "rt")
		if te := asTokenError(t, err); te.StatusCode != http.StatusTemporaryRedirect {
			t.Errorf("%s: status %d, want 307", name, te.StatusCode)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect was followed with the client's credentials")
	}
}

func TestTokenExpiryUsesClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{AccessTokenTTL: 2 * time.Minute})
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := f.client(t, basicID, func(cfg *client.Config) { cfg.Now = func() time.Time { return now } })
	_, tok := f.login(t, c)
	if want := now.Add(2 * time.Minute); !tok.Expiry.Equal(want) || tok.ExpiresIn != 120 {
		t.Fatalf("Expiry %v, ExpiresIn %d, want %v and 120", tok.Expiry, tok.ExpiresIn, want)
	}
	if tok.Extra("scope") != "openid profile offline_access" {
		t.Fatalf("Extra(scope) = %v", tok.Extra("scope"))
	}
}

func TestExchangeResource(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	req, err := c.AuthCodeURL(t.Context(), client.Resource("https://a.example", "https://b.example"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Exchange(t.Context(), mustCode(t, c, req), req, client.Resource("https://b.example"))
	if err != nil {
		t.Fatal(err)
	}
	if aud := jwtClaims(t, tok.AccessToken)["aud"]; aud != "https://b.example" {
		t.Fatalf("access token aud %v, want the narrowed resource", aud)
	}
	if _, err := c.Exchange(t.Context(), "code", req, client.Param("code_verifier", "x")); err == nil {
		t.Fatal("Param overrode code_verifier")
	}
}
