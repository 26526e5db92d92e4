package interop

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/keyway-go/keyway/internal/testenv"
)

// These tests run examples/api (Keyway's middleware behind the examples
// contract's routes) as a process, as the web app tests do, and present it
// the tokens oidc-provider issues: the RFC 9068 access tokens it must take,
// and the ID tokens, foreign and opaque tokens and malformed requests it must
// refuse.

func TestAPIAcceptsProviderAccessTokens(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	api := newExampleAPI(t)
	api.start(t, p)

	t.Run("client credentials", func(t *testing.T) {
		token := serviceToken(t, p, api.Audience, "api:read")
		api.requireMe(t, token, apiMe{Sub: "service", ClientID: "service", Scope: []string{"api:read"}})
		r := api.get(t, "/admin", "Bearer "+token)
		scheme, params := r.challenge()
		if r.Status != http.StatusForbidden || scheme != "Bearer" || params["error"] != "insufficient_scope" || params["scope"] != "admin" {
			t.Errorf("GET /admin with scope api:read: status %d, WWW-Authenticate %q; want 403 with error=\"insufficient_scope\", scope=\"admin\"",
				r.Status, r.Header.Get("WWW-Authenticate"))
		}
		if code, _ := r.errorBody(); code != "insufficient_scope" {
			t.Errorf("GET /admin with scope api:read: body %s, want error insufficient_scope", snippet(r.Body))
		}
	})

	t.Run("client credentials with scope admin", func(t *testing.T) {
		token := serviceToken(t, p, api.Audience, "admin")
		if r := api.get(t, "/admin", "Bearer "+token); r.Status != http.StatusOK {
			t.Errorf("GET /admin with scope admin: status %d: %s", r.Status, snippet(r.Body))
		}
		api.requireMe(t, token, apiMe{Sub: "service", ClientID: "service", Scope: []string{"admin"}})
	})

	t.Run("authorization code", func(t *testing.T) {
		redirectURI := unusedCallback(t)
		clientID, secret := p.registerClient(t, map[string]any{"redirect_uris": []string{redirectURI}})
		accessToken, _ := codeTokens(t, p, clientID, secret, redirectURI, api.Audience, "ada")
		api.requireMe(t, accessToken, apiMe{Sub: "ada", ClientID: clientID, Scope: []string{"api:read"}})
	})

	t.Run("resource metadata", func(t *testing.T) {
		// The audience has a path, so the document is at the path-suffixed
		// well-known URI (RFC 9728 §3.1), and the contract's bare one too.
		for _, path := range []string{api.metadataPath(), "/.well-known/oauth-protected-resource"} {
			r := api.get(t, path)
			var m struct {
				Resource             string   `json:"resource"`
				AuthorizationServers []string `json:"authorization_servers"`
			}
			if err := json.Unmarshal(r.Body, &m); r.Status != http.StatusOK || err != nil {
				t.Fatalf("GET %s: status %d: %s", path, r.Status, snippet(r.Body))
			}
			if m.Resource != api.Audience || !slices.Equal(m.AuthorizationServers, []string{p.Issuer}) {
				t.Errorf("GET %s: resource %q, authorization_servers %q; want %q, [%q]",
					path, m.Resource, m.AuthorizationServers, api.Audience, p.Issuer)
			}
		}
	})
}

// TestAPIRefusesIDTokens presents the API with what a confused or malicious
// client might send instead of an access token for it. Each refusal is pinned
// to its check by the error description: an ID token whose audience happens to
// be the API's (a client registered under the API's URL) passes the audience
// check and must be refused as not an access token.
func TestAPIRefusesIDTokens(t *testing.T) {
	t.Parallel()
	api := newExampleAPI(t)
	// The API's own URL as a client_id: that client's ID tokens have the
	// API's audience.
	confusableRedirect := unusedCallback(t)
	p := startProvider(t, providerOptions{Clients: []map[string]any{
		serviceClient,
		{
			"client_id":      api.Audience,
			"client_secret":  "confusable-secret",
			"redirect_uris":  []string{confusableRedirect},
			"grant_types":    []string{"authorization_code"},
			"response_types": []string{"code"},
		},
	}})
	api.start(t, p)

	// A token for this API passes, so the refusals below are the tokens'.
	api.requireMe(t, serviceToken(t, p, api.Audience, "api:read"), apiMe{Sub: "service", ClientID: "service", Scope: []string{"api:read"}})

	redirectURI := unusedCallback(t)
	clientID, secret := p.registerClient(t, map[string]any{"redirect_uris": []string{redirectURI}})
	accessToken, idToken := codeTokens(t, p, clientID, secret, redirectURI, api.Audience, "ada")
	_, confusableIDToken := codeTokens(t, p, api.Audience, "confusable-secret", confusableRedirect, "", "ada")
	if _, claims := decodeJWT(t, confusableIDToken); claims["aud"] != api.Audience {
		t.Fatalf("ID token of client %q: aud %v, want the API's audience", api.Audience, claims["aud"])
	}
	otherToken := serviceToken(t, p, "http://127.0.0.1:9/other", "api:read")
	opaqueToken := serviceToken(t, p, "")
	if strings.Count(opaqueToken, ".") == 2 {
		t.Fatalf("client credentials without resource gave a JWT, want an opaque token: %q", opaqueToken)
	}

	const (
		notForThisAPI   = "the access token is not meant for this resource"
		notAccessToken  = "the token is not an access token"
		malformed       = "the access token is malformed"
		tokenRequired   = "a bearer access token is required"
		twoHeaders      = "more than one Authorization header"
		tokenInTheQuery = "access tokens in the query string are not accepted; use the Authorization header"
	)
	for _, tt := range []struct {
		name          string
		path          string
		authorization []string
		status        int
		code          string // the challenge's error, "" for a bare challenge
		description   string
	}{
		{"ID token", "/me", []string{"Bearer " + idToken}, http.StatusUnauthorized, "invalid_token", notForThisAPI},
		{"ID token with the API's audience", "/me", []string{"Bearer " + confusableIDToken}, http.StatusUnauthorized, "invalid_token", notAccessToken},
		{"ID token at /admin", "/admin", []string{"Bearer " + confusableIDToken}, http.StatusUnauthorized, "invalid_token", notAccessToken},
		{"access token for another resource", "/me", []string{"Bearer " + otherToken}, http.StatusUnauthorized, "invalid_token", notForThisAPI},
		{"opaque access token", "/me", []string{"Bearer " + opaqueToken}, http.StatusUnauthorized, "invalid_token", malformed},
		{"no token", "/me", nil, http.StatusUnauthorized, "", tokenRequired},
		{"no token at /admin", "/admin", nil, http.StatusUnauthorized, "", tokenRequired},
		{"Basic credentials", "/me", []string{"Basic c2VydmljZTpzZXJ2aWNlLXNlY3JldA=="}, http.StatusUnauthorized, "", tokenRequired},
		{"two Authorization headers", "/me", []string{"Bearer " + accessToken, "Bearer " + accessToken}, http.StatusBadRequest, "invalid_request", twoHeaders},
		{"token in the query", "/me?" + url.Values{"access_token": {accessToken}}.Encode(), nil, http.StatusBadRequest, "invalid_request", tokenInTheQuery},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := api.get(t, tt.path, tt.authorization...)
			scheme, params := r.challenge()
			if r.Status != tt.status || scheme != "Bearer" || params["error"] != tt.code {
				t.Errorf("status %d, WWW-Authenticate %q; want %d with error %q", r.Status, r.Header.Get("WWW-Authenticate"), tt.status, tt.code)
			}
			if tt.code == "" && len(params) != 1 {
				t.Errorf("WWW-Authenticate %q, want a bare Bearer challenge with resource_metadata alone", r.Header.Get("WWW-Authenticate"))
			}
			if got, want := params["resource_metadata"], api.URL+api.metadataPath(); got != want {
				t.Errorf("resource_metadata = %q, want %q", got, want)
			}
			wantCode := tt.code
			if wantCode == "" {
				wantCode = "unauthorized"
			}
			if code, description := r.errorBody(); code != wantCode || description != tt.description {
				t.Errorf("body %s, want error %q, error_description %q", snippet(r.Body), wantCode, tt.description)
			}
		})
	}
	// The access token the malformed requests carried is good.
	api.requireMe(t, accessToken, apiMe{Sub: "ada", ClientID: clientID, Scope: []string{"api:read"}})
}

// serviceClient is the default service client (see README.md), for tests that
// replace the default clients.
var serviceClient = map[string]any{
	"client_id":                  "service",
	"client_secret":              "service-secret",
	"token_endpoint_auth_method": "client_secret_basic",
	"grant_types":                []string{"client_credentials"},
	"response_types":             []string{},
	"redirect_uris":              []string{},
}

// exampleAPI is examples/api on a free 127.0.0.1 port.
type exampleAPI struct {
	// URL is "http://127.0.0.1:<port>".
	URL string
	// Audience is API_AUDIENCE, URL+"/api": the resource clients ask tokens for,
	// which oidc-provider issues JWT access tokens for.
	Audience string

	ln net.Listener // holds the port until start
}

// newExampleAPI picks the port of an API, held until start, so that the
// provider can be configured with its audience first.
func newExampleAPI(t testing.TB) *exampleAPI {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	u := "http://" + ln.Addr().String()
	return &exampleAPI{URL: u, Audience: u + "/api", ln: ln}
}

// start runs examples/api for tokens of p and returns once it serves /public.
// The process is stopped in t.Cleanup; its log is printed if the test failed,
// and a data race it reports fails the test.
func (a *exampleAPI) start(t testing.TB, p *provider) {
	t.Helper()
	cmd := exec.Command(exampleBinary(t, &apiBuild, "api"))
	cmd.Env = webappEnv(map[string]string{
		"OIDC_ISSUER":  p.Issuer,
		"API_AUDIENCE": a.Audience,
		"ADDR":         a.ln.Addr().String(),
	})
	a.ln.Close() // free the port for the API (see startWebapp)
	exited, logs := runExample(t, cmd, "the API")
	a.waitReady(t, exited, logs)
}

// waitReady polls /public until it answers 200.
func (a *exampleAPI) waitReady(t testing.TB, exited <-chan struct{}, logs *testenv.Buffer) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(appReadyTimeout)
	for time.Now().Before(deadline) {
		resp, err := c.Get(a.URL + "/public")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("interop: the API exited before it was ready:\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("interop: the API at %s was not ready within %v:\n%s", a.URL, appReadyTimeout, logs.String())
}

// metadataPath is the path of the API's protected resource metadata.
func (a *exampleAPI) metadataPath() string {
	return "/.well-known/oauth-protected-resource" + strings.TrimPrefix(a.Audience, a.URL)
}

// apiResponse is one answer of the API.
type apiResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// get requests path at the API with one Authorization header per value.
func (a *exampleAPI) get(t testing.TB, path string, authorization ...string) apiResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(authorization) > 0 {
		req.Header["Authorization"] = authorization
	}
	resp, err := noRedirects(nil).Do(req)
	if err != nil {
		t.Fatalf("interop: GET %s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		t.Fatalf("interop: GET %s: %v", req.URL.Path, err)
	}
	return apiResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// challengeParamRE reads the auth-params of a Bearer challenge, whose values the
// middleware always quotes.
var challengeParamRE = regexp.MustCompile(`([A-Za-z_]+)="([^"\\]*)"`)

// challenge returns the scheme and parameters of the WWW-Authenticate header.
func (r apiResponse) challenge() (scheme string, params map[string]string) {
	h := r.Header.Get("WWW-Authenticate")
	scheme, rest, _ := strings.Cut(h, " ")
	params = map[string]string{}
	for _, m := range challengeParamRE.FindAllStringSubmatch(rest, -1) {
		params[m[1]] = m[2]
	}
	return scheme, params
}

// errorBody returns the error and error_description of a JSON error body.
func (r apiResponse) errorBody() (code, description string) {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(r.Body, &e)
	return e.Error, e.Description
}

// apiMe is the JSON of the API's /me.
type apiMe struct {
	Sub      string   `json:"sub"`
	ClientID string   `json:"client_id"`
	Scope    []string `json:"scope"`
}

// requireMe checks that /me accepts token and answers want.
func (a *exampleAPI) requireMe(t testing.TB, token string, want apiMe) {
	t.Helper()
	r := a.get(t, "/me", "Bearer "+token)
	var got apiMe
	if err := json.Unmarshal(r.Body, &got); r.Status != http.StatusOK || err != nil {
		t.Fatalf("GET /me: status %d, WWW-Authenticate %q: %s", r.Status, r.Header.Get("WWW-Authenticate"), snippet(r.Body))
	}
	if got.Sub != want.Sub || got.ClientID != want.ClientID || !slices.Equal(got.Scope, want.Scope) {
		t.Errorf("GET /me = %+v, want %+v", got, want)
	}
}

// serviceToken returns an access token of the service client (client
// credentials) with scopes, for resource: a JWT for it, or an opaque token
// when resource is "".
func serviceToken(t testing.TB, p *provider, resource string, scopes ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cfg := clientcredentials.Config{
		ClientID:     "service",
		ClientSecret: "service-secret",
		TokenURL:     p.discovery(t).TokenEndpoint,
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	if resource != "" {
		cfg.EndpointParams = url.Values{"resource": {resource}}
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("interop: client credentials for %q: %v", resource, err)
	}
	return tok.AccessToken
}

// codeTokens logs username in to a confidential client, asking for openid and
// api:read and, unless it is "", resource; it returns the access token and the
// ID token of the code exchange.
func codeTokens(t testing.TB, p *provider, clientID, secret, redirectURI, resource, username string) (accessToken, idToken string) {
	t.Helper()
	cfg := codeConfig(p.discovery(t), clientID, secret, redirectURI, "openid", "api:read")
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", resource))
	}
	callback := p.login(t, nil, cfg.AuthCodeURL(rand.Text(), opts...), username)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("interop: code exchange for %s: %v", clientID, err)
	}
	idToken, _ = tok.Extra("id_token").(string)
	if tok.AccessToken == "" || idToken == "" {
		t.Fatalf("interop: code exchange for %s: no access token or no ID token", clientID)
	}
	return tok.AccessToken, idToken
}
