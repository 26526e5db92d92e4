package oidctest_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/keyway-go/keyway/internal/testenv"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/oidctest"
)

// The clients newServer registers when a test brings none.
const (
	appID     = "app" // confidential, client_secret_basic
	appSecret = "s3cret"
	spaID     = "spa" // public, none

	redirectURI   = "http://127.0.0.1:9/callback"
	postLogoutURI = "http://127.0.0.1:9/signed-out"

	defaultScope = "openid profile email offline_access"
	defaultState = "st4te"
	defaultNonce = "n0nce"
)

func appClient() oidctest.Client {
	return oidctest.Client{
		ID: appID, Secret: appSecret,
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{postLogoutURI},
	}
}

func spaClient() oidctest.Client {
	return oidctest.Client{ID: spaID, RedirectURIs: []string{redirectURI}}
}

var (
	appAuth = secretBasic(appID, appSecret)
	spaAuth = public(spaID)
)

// newServer starts a server for one test and closes it when the test ends.
// Without cfg.Clients it registers appClient and spaClient.
func newServer(t testing.TB, cfg oidctest.Config) *oidctest.Server {
	t.Helper()
	if cfg.Clients == nil {
		cfg.Clients = []oidctest.Client{appClient(), spaClient()}
	}
	srv := oidctest.NewServer(cfg)
	t.Cleanup(srv.Close)
	return srv
}

// clock is a Config.Now that moves only when told to.
type clock = testenv.Clock

func newClock() *clock { return testenv.NewClock(time.Now().Truncate(time.Second)) }

// response is a read HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

func do(c *http.Client, req *http.Request) (response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

func get(t testing.TB, c *http.Client, u string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := do(c, req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return res
}

// clientAuth adds a client's credentials to a request to the server.
type clientAuth func(h http.Header, form url.Values)

// secretBasic authenticates with client_secret_basic, form-encoding both
// parts as RFC 6749 §2.3.1 requires.
func secretBasic(id, secret string) clientAuth {
	return func(h http.Header, _ url.Values) {
		creds := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	}
}

func secretPost(id, secret string) clientAuth {
	return func(_ http.Header, form url.Values) {
		form.Set("client_id", id)
		form.Set("client_secret", secret)
	}
}

// public identifies a client that does not authenticate (method none).
func public(id string) clientAuth {
	return func(_ http.Header, form url.Values) { form.Set("client_id", id) }
}

// both applies two authentications to one request.
func both(a, b clientAuth) clientAuth {
	return func(h http.Header, form url.Values) {
		a(h, form)
		b(h, form)
	}
}

func postForm(srv *oidctest.Server, path string, auth clientAuth, form url.Values) (response, error) {
	form = maps.Clone(form)
	if form == nil {
		form = url.Values{}
	}
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if auth != nil {
		auth(h, form)
	}
	req, err := http.NewRequest(http.MethodPost, srv.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return response{}, err
	}
	req.Header = h
	return do(srv.Client(), req)
}

// post sends form to path below the issuer with the client's credentials
// (none when auth is nil).
func post(t testing.TB, srv *oidctest.Server, path string, auth clientAuth, form url.Values) response {
	t.Helper()
	res, err := postForm(srv, path, auth, form)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return res
}

// wantOAuthError checks an RFC 6749 §5.2 error response.
func wantOAuthError(t testing.TB, res response, status int, code string) {
	t.Helper()
	if res.status != status {
		t.Errorf("status = %d, want %d; body: %s", res.status, status, res.body)
	}
	if got := res.json(t)["error"]; got != code {
		t.Errorf("error = %v, want %q; body: %s", got, code, res.body)
	}
}

// tokens is a token endpoint response.
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Scope        string `json:"scope"`
}

func parseTokens(res response) (tokens, error) {
	var tk tokens
	if res.status != http.StatusOK {
		return tk, fmt.Errorf("token endpoint: status %d: %s", res.status, res.body)
	}
	if err := json.Unmarshal(res.body, &tk); err != nil {
		return tk, fmt.Errorf("token endpoint: %v: %s", err, res.body)
	}
	if tk.AccessToken == "" {
		return tk, fmt.Errorf("token endpoint: no access_token: %s", res.body)
	}
	return tk, nil
}

// wantTokens checks that res is a successful token response.
func wantTokens(t testing.TB, res response) tokens {
	t.Helper()
	tk, err := parseTokens(res)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func codeForm(code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {redirectURI},
	}
}

func refreshForm(refreshToken string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
}

func clientCredentialsForm() url.Values {
	return url.Values{"grant_type": {"client_credentials"}}
}

func exchange(t testing.TB, srv *oidctest.Server, auth clientAuth, code, verifier string) tokens {
	t.Helper()
	return wantTokens(t, post(t, srv, "/token", auth, codeForm(code, verifier)))
}

func refresh(t testing.TB, srv *oidctest.Server, refreshToken string) response {
	t.Helper()
	return post(t, srv, "/token", appAuth, refreshForm(refreshToken))
}

// pkce is a code verifier and its S256 challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	return pkceFor(oauth2.GenerateVerifier())
}

func pkceFor(verifier string) pkce {
	return pkce{verifier, oauth2.S256ChallengeFromVerifier(verifier)}
}

// authParams returns a valid authorization request for clientID.
func authParams(clientID string, pk pkce) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {defaultScope},
		"state":                 {defaultState},
		"nonce":                 {defaultNonce},
		"code_challenge":        {pk.challenge},
		"code_challenge_method": {"S256"},
	}
}

// newBrowser stands in for the user's browser: it keeps the server's
// cookies and stops at redirects, so a test sees where the server sends
// the user without following them to the client.
func newBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func getAuthorize(t testing.TB, srv *oidctest.Server, browser *http.Client, params url.Values) response {
	t.Helper()
	return get(t, browser, srv.Issuer+"/authorize?"+params.Encode())
}

// redirectParams checks that res redirects to redirectURI and returns the
// parameters it carries.
func redirectParams(t testing.TB, res response) url.Values {
	t.Helper()
	if res.status != http.StatusFound {
		t.Fatalf("status = %d, want 302; body: %s", res.status, res.body)
	}
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", loc, redirectURI)
	}
	return loc.Query()
}

// authorize sends params to the authorization endpoint from a new browser
// and returns the parameters of the redirect to the client.
func authorize(t testing.TB, srv *oidctest.Server, params url.Values) url.Values {
	t.Helper()
	return redirectParams(t, getAuthorize(t, srv, newBrowser(t), params))
}

// authCode authorizes params and returns the code.
func authCode(t testing.TB, srv *oidctest.Server, params url.Values) string {
	t.Helper()
	q := authorize(t, srv, params)
	if q.Get("code") == "" {
		t.Fatalf("authorization response without code: %v", q)
	}
	return q.Get("code")
}

// login runs the authorization code flow for the app client with params
// (authParams when nil) and returns the tokens.
func login(t testing.TB, srv *oidctest.Server, params url.Values) tokens {
	t.Helper()
	pk := newPKCE()
	if params == nil {
		params = authParams(appID, pk)
	} else {
		params = maps.Clone(params)
		params.Set("code_challenge", pk.challenge)
	}
	return exchange(t, srv, appAuth, authCode(t, srv, params), pk.verifier)
}

// loginAs is login in browser, so that the server's session carries over.
func loginAs(t testing.TB, srv *oidctest.Server, browser *http.Client, params url.Values) tokens {
	t.Helper()
	pk := newPKCE()
	params = maps.Clone(params)
	params.Set("code_challenge", pk.challenge)
	q := redirectParams(t, getAuthorize(t, srv, browser, params))
	return exchange(t, srv, appAuth, q.Get("code"), pk.verifier)
}

var requestIDPattern = regexp.MustCompile(`name="request" value="([^"]+)"`)

// loginFormID returns the request id of an interactive login form.
func loginFormID(t testing.TB, res response) string {
	t.Helper()
	m := requestIDPattern.FindSubmatch(res.body)
	if m == nil {
		t.Fatalf("status %d: no login form: %s", res.status, res.body)
	}
	return string(m[1])
}

// submitLogin posts the interactive login form from browser.
func submitLogin(t testing.TB, srv *oidctest.Server, browser *http.Client, requestID, username, password string) response {
	t.Helper()
	form := url.Values{"request": {requestID}, "username": {username}, "password": {password}}
	res, err := browser.PostForm(srv.Issuer+"/login", form)
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

func introspect(t testing.TB, srv *oidctest.Server, token string) map[string]any {
	t.Helper()
	res := post(t, srv, "/introspect", appAuth, url.Values{"token": {token}})
	if res.status != http.StatusOK {
		t.Fatalf("introspection: status %d: %s", res.status, res.body)
	}
	return res.json(t)
}

func isActive(t testing.TB, srv *oidctest.Server, token string) bool {
	t.Helper()
	return introspect(t, srv, token)["active"] == true
}

// decodeJWT returns the header and claims of a compact JWS without checking
// its signature.
func decodeJWT(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3: %q", len(parts), tok)
	}
	return decodeSegment(t, parts[0]), decodeSegment(t, parts[1])
}

func decodeSegment(t testing.TB, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
	return m
}

// fetchJWKS reads the key set the server publishes.
func fetchJWKS(t testing.TB, srv *oidctest.Server) jose.JSONWebKeySet {
	t.Helper()
	res := get(t, srv.Client(), srv.Issuer+"/jwks")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(res.body, &set); err != nil {
		t.Fatalf("JWKS: status %d: %v\n%s", res.status, err, res.body)
	}
	return set
}

var serverAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// verifyWithJWKS checks tok's signature with the key of set its kid names,
// which must be for the token's alg, and returns its claims.
func verifyWithJWKS(set jose.JSONWebKeySet, tok string) (map[string]any, error) {
	jws, err := jose.ParseSigned(tok, serverAlgs)
	if err != nil {
		return nil, err
	}
	h := jws.Signatures[0].Header
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, fmt.Errorf("kid %q names %d keys of the JWKS", h.KeyID, len(keys))
	}
	if keys[0].Algorithm != h.Algorithm {
		return nil, fmt.Errorf("kid %q is a %s key, token is %s", h.KeyID, keys[0].Algorithm, h.Algorithm)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// verifyJWT checks tok's signature against the server's published JWKS
// and returns its claims.
func verifyJWT(t testing.TB, srv *oidctest.Server, tok string) map[string]any {
	t.Helper()
	claims, err := verifyWithJWKS(fetchJWKS(t, srv), tok)
	if err != nil {
		t.Fatalf("verify %q: %v", tok, err)
	}
	return claims
}

// checkHS256 checks an HS256 token keyed with secret and returns its
// claims.
func checkHS256(tok, secret string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("token has %d parts, want 3", len(parts))
	}
	var header struct{ Alg string }
	var claims map[string]any
	for i, v := range []any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, err
		}
	}
	if header.Alg != "HS256" {
		return nil, fmt.Errorf("alg = %q, want HS256", header.Alg)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if got, want := parts[2], base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); got != want {
		return nil, fmt.Errorf("HS256 signature %q, want %q", got, want)
	}
	return claims, nil
}

// verifyHS256 is checkHS256 for the test goroutine.
func verifyHS256(t testing.TB, tok, secret string) map[string]any {
	t.Helper()
	claims, err := checkHS256(tok, secret)
	if err != nil {
		t.Fatal(err)
	}
	return claims
}

// num reads a numeric claim.
func num(t testing.TB, claims map[string]any, name string) int64 {
	t.Helper()
	f, ok := claims[name].(float64)
	if !ok {
		t.Fatalf("claim %s = %#v, want a number", name, claims[name])
	}
	return int64(f)
}

// stringList reads a JSON array of strings.
func stringList(t testing.TB, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("%#v is not an array", v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			t.Fatalf("%#v is not an array of strings", v)
		}
		out[i] = s
	}
	return out
}

// wantClaims checks that claims hold want (compared as JSON values) and
// none of absent.
func wantClaims(t testing.TB, claims map[string]any, want map[string]any, absent ...string) {
	t.Helper()
	for k, v := range want {
		if got, w := jsonString(claims[k]), jsonString(v); got != w {
			t.Errorf("claim %s = %s, want %s", k, got, w)
		}
	}
	for _, k := range absent {
		if v, ok := claims[k]; ok {
			t.Errorf("claim %s = %v, want none", k, v)
		}
	}
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}

// signCompact signs the JSON of claims with key and opts, compact.
func signCompact(t testing.TB, key jose.SigningKey, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
