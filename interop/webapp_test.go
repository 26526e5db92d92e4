package interop

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
)

// The example web app lives in examples/internal/webapp, which this package may not
// import (Go's internal rule), so the tests run the real program, examples/webapp,
// as a process configured through the examples contract's environment, and drive it
// with plain HTTP as a browser would.

const (
	buildTimeout    = 3 * time.Minute  // go build of examples/webapp, cold cache included
	appReadyTimeout = 15 * time.Second // process start and discovery
)

// webapp is examples/webapp running on a free 127.0.0.1 port with a client
// registered for it at the provider.
type webapp struct {
	// URL is APP_URL, "http://127.0.0.1:<port>": the redirect URI is URL+"/callback",
	// the post-logout redirect URI URL+"/".
	URL      string
	ClientID string
	// Redis is a client of the app's Redis when SESSION_STORE is redis, else nil.
	Redis *redis.Client
}

// webappOptions configures one web app.
type webappOptions struct {
	// Public registers a public client (token_endpoint_auth_method "none") and runs
	// the app with OIDC_CLIENT_SECRET empty; otherwise client_secret_basic.
	Public bool
	// APIURL is API_URL, the API whose /me the app's /api route calls; "" for none.
	APIURL string
	// SessionStore is SESSION_STORE: "" or "cookie" for sealed cookies, "redis" for
	// sessions in the test Redis (testenv.RedisURL: the test is skipped without
	// one, or fails when CI=true).
	SessionStore string
	// BackchannelLogout registers URL+"/backchannel-logout" as the client's
	// back-channel logout URI, with backchannel_logout_session_required: ID tokens
	// and logout tokens then carry the provider's sid.
	BackchannelLogout bool
}

// startWebapp registers a client for a new web app at p, then runs examples/webapp
// for it, asking for openid profile email offline_access, with the session store of
// opts (default cookie), and returns once the app serves its home page. The process
// is stopped in t.Cleanup; its log is printed if the test failed, and a data race it
// reports (the app is built with -race when the tests are) fails the test.
func startWebapp(t testing.TB, p *provider, opts webappOptions) *webapp {
	t.Helper()
	bin := webappBinary(t)
	store := cmp.Or(opts.SessionStore, "cookie")
	var redisURL string
	if store == "redis" {
		redisURL = testenv.RedisURL(t)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	app := &webapp{URL: "http://" + ln.Addr().String()}
	auth := "client_secret_basic"
	if opts.Public {
		auth = "none"
	}
	var secret string
	metadata := map[string]any{
		"redirect_uris":              []string{app.URL + "/callback"},
		"post_logout_redirect_uris":  []string{app.URL + "/"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_method": auth,
		// The rp sends no prompt=consent, without which oidc-provider drops
		// offline_access and issues no refresh token (see provider.mjs).
		"interop_issue_refresh_token": true,
	}
	if opts.BackchannelLogout {
		metadata["backchannel_logout_uri"] = app.URL + "/backchannel-logout"
		metadata["backchannel_logout_session_required"] = true
	}
	app.ClientID, secret = p.registerClient(t, metadata)
	if opts.Public != (secret == "") {
		t.Fatalf("interop: registered %s client got secret %q", auth, secret)
	}

	cmd := exec.Command(bin)
	cmd.Env = webappEnv(map[string]string{
		"OIDC_ISSUER":        p.Issuer,
		"OIDC_CLIENT_ID":     app.ClientID,
		"OIDC_CLIENT_SECRET": secret,
		"OIDC_SCOPES":        "openid profile email offline_access",
		"APP_URL":            app.URL,
		"ADDR":               ln.Addr().String(),
		"SESSION_STORE":      store,
		"REDIS_URL":          redisURL,
		"SESSION_SECRET":     hex.EncodeToString(randomBytes(32)),
		"API_URL":            opts.APIURL,
	})
	// Free the port for the app. Another listener can only take it by a random
	// pick in between; the app would then exit, and waitReady says why.
	ln.Close()
	exited, logs := runExample(t, cmd, "the web app")
	app.waitReady(t, exited, logs)
	if redisURL != "" {
		app.Redis = redisClient(t, redisURL)
	}
	return app
}

// runExample starts cmd, an example program, with its output captured, and
// stops it in t.Cleanup: SIGTERM, then a kill after stopTimeout. A data race
// it reports, or an exit with an error, fails the test; its log is shown
// when the test failed. exited is closed when the program has exited.
func runExample(t testing.TB, cmd *exec.Cmd, name string) (exited <-chan struct{}, logs *testenv.Buffer) {
	t.Helper()
	logs = &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = stopTimeout
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: starting %s: %v", name, err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		killed := false
		select {
		case <-done:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			killed = true
			<-done
		}
		switch {
		case strings.Contains(logs.String(), "DATA RACE"):
			t.Errorf("interop: %s reported a data race", name)
		case waitErr != nil && !killed:
			t.Errorf("interop: %s exited with %v", name, waitErr)
		}
		if t.Failed() {
			t.Logf("interop: %s log:\n%s", name, logs.String())
		}
	})
	return done, logs
}

// waitReady polls the app's home page until it answers 200.
func (a *webapp) waitReady(t testing.TB, exited <-chan struct{}, logs *testenv.Buffer) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(appReadyTimeout)
	for time.Now().Before(deadline) {
		resp, err := c.Get(a.URL + "/")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "Keyway web app") {
				return
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, snippet(body))
		}
		select {
		case <-exited:
			t.Fatalf("interop: the web app exited before it was ready:\n%s", logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("interop: the web app at %s was not ready within %v:\n%s", a.URL, appReadyTimeout, logs.String())
}

// webappEnv returns our environment without the settings of the examples contract,
// plus vars (empty values left out).
func webappEnv(vars map[string]string) []string {
	contract := []string{
		"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_SCOPES", "OIDC_RESOURCE",
		"APP_URL", "ADDR", "SESSION_STORE", "SESSION_SECRET", "REDIS_URL", "API_URL", "API_AUDIENCE",
		"INTROSPECTION_CLIENT_ID", "INTROSPECTION_CLIENT_SECRET", "CALLS", "CALL_INTERVAL", "DPOP",
	}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(contract, name) {
			env = append(env, kv)
		}
	}
	for name, value := range vars {
		if value != "" {
			env = append(env, name+"="+value)
		}
	}
	return env
}

// exampleBuild is one example program, built once for all tests and removed by
// TestMain.
type exampleBuild struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// The example programs the tests run.
var webappBuild, apiBuild, serviceBuild, cliBuild exampleBuild

func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range []*exampleBuild{&webappBuild, &apiBuild, &serviceBuild, &cliBuild} {
		if b.dir != "" {
			os.RemoveAll(b.dir)
		}
	}
	os.Exit(code)
}

// webappBinary returns examples/webapp built with the go tool that runs the tests
// (with -race when the tests have it). Without a go tool on PATH the test is
// skipped, or fails when CI=true.
func webappBinary(t testing.TB) string {
	t.Helper()
	return exampleBinary(t, &webappBuild, "webapp")
}

// exampleBinary returns examples/<name> built once into b, as webappBinary does.
func exampleBinary(t testing.TB, b *exampleBuild, name string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("interop: the go tool is required under CI=true: %v", err)
		}
		t.Skipf("interop: no go tool to build examples/%s: %v", name, err)
	}
	root := testenv.RepoRoot(t)
	b.once.Do(func() {
		b.dir, b.bin, b.err = buildExample(goTool, root, name)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

func buildExample(goTool, root, name string) (dir, bin string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	dir, err = os.MkdirTemp("", "keyway-interop-")
	if err != nil {
		return "", "", fmt.Errorf("interop: %w", err)
	}
	pkg := "./examples/" + name
	bin = filepath.Join(dir, name)
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, goTool, append(args, pkg)...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, "", fmt.Errorf("interop: go build %s: %w\n%s", pkg, err, out)
	}
	// go test caches a passing result by the test binary and the files the test
	// opened. The app's code is not in the binary: stat its sources so that a
	// change to them runs the tests again.
	cmd = exec.CommandContext(ctx, goTool, "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`,
		pkg)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return dir, "", fmt.Errorf("interop: go list %s: %w", pkg, err)
	}
	files := append(strings.Fields(string(out)), filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum"))
	for _, f := range files {
		_, _ = os.Stat(f)
	}
	return dir, bin, nil
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// appResponse is one answer of the app, redirects not followed.
type appResponse struct {
	Status   int
	Location string // for a 3xx
	Header   http.Header
	Body     string
}

// get requests target at the app, a path or an absolute URL, in browser c.
func (a *webapp) get(t testing.TB, c *http.Client, target string) appResponse {
	t.Helper()
	return a.do(t, c, http.MethodGet, target, nil)
}

// post sends an empty POST to path, with header, in browser c.
func (a *webapp) post(t testing.TB, c *http.Client, path string, header http.Header) appResponse {
	t.Helper()
	return a.do(t, c, http.MethodPost, path, header)
}

func (a *webapp) do(t testing.TB, c *http.Client, method, target string, header http.Header) appResponse {
	t.Helper()
	u, err := url.Parse(a.URL)
	if err == nil {
		u, err = u.Parse(target)
	}
	if err != nil || u.Host != hostOf(a.URL) {
		t.Fatalf("interop: %q is not at the app (%v)", target, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range header {
		req.Header[name] = values
	}
	resp, err := noRedirects(c).Do(req)
	if err != nil {
		t.Fatalf("interop: %s %s: %v", method, u.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		t.Fatalf("interop: %s %s: %v", method, u.Path, err)
	}
	return appResponse{
		Status:   resp.StatusCode,
		Location: resp.Header.Get("Location"),
		Header:   resp.Header,
		Body:     string(body),
	}
}

// startLogin requests /login?return_to=returnTo in browser c and returns the
// authorization request it redirects to, after checking that it carries what
// the login needs: this client and redirect URI, PKCE S256, state and nonce.
func (a *webapp) startLogin(t testing.TB, p *provider, c *http.Client, returnTo string) string {
	t.Helper()
	r := a.get(t, c, "/login?"+url.Values{"return_to": {returnTo}}.Encode())
	if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
		t.Fatalf("GET /login: status %d, want a redirect: %s", r.Status, snippet([]byte(r.Body)))
	}
	authz, err := url.Parse(r.Location)
	if err != nil {
		t.Fatalf("GET /login: bad Location %q: %v", r.Location, err)
	}
	if want := p.discovery(t).AuthorizationEndpoint; authz.Scheme+"://"+authz.Host+authz.Path != want {
		t.Fatalf("GET /login redirects to %q, want the authorization endpoint %q", r.Location, want)
	}
	q := authz.Query()
	for name, want := range map[string]string{
		"client_id":             a.ClientID,
		"redirect_uri":          a.URL + "/callback",
		"response_type":         "code",
		"code_challenge_method": "S256",
	} {
		if q.Get(name) != want {
			t.Errorf("authorization request: %s = %q, want %q", name, q.Get(name), want)
		}
	}
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(name) == "" {
			t.Errorf("authorization request without %s: %s", name, authz.Redacted())
		}
	}
	if scopes := strings.Fields(q.Get("scope")); !slices.Contains(scopes, "openid") || !slices.Contains(scopes, "offline_access") {
		t.Errorf("authorization request: scope = %q, want openid … offline_access", q.Get("scope"))
	}
	return r.Location
}

// finishLogin delivers the provider's redirect to the app's callback in browser
// c and returns where the app sends the user (return_to).
func (a *webapp) finishLogin(t testing.TB, c *http.Client, callback *url.URL) string {
	t.Helper()
	if got := callback.Scheme + "://" + callback.Host + callback.Path; got != a.URL+"/callback" {
		t.Fatalf("the provider redirected to %q, want %q", got, a.URL+"/callback")
	}
	r := a.get(t, c, callback.String())
	if r.Status != http.StatusSeeOther {
		t.Fatalf("GET /callback: status %d, want 303: %s", r.Status, pageText([]byte(r.Body)))
	}
	if !setsSession(r.Header) {
		t.Errorf("GET /callback: no session cookie set (Set-Cookie %q)", r.Header.Values("Set-Cookie"))
	}
	for _, c := range sessionCookies(r.Header) {
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("GET /callback: session cookie %s: HttpOnly %v, SameSite %v, Path %q, Domain %q; want HttpOnly, Lax, host-only on /",
				c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain)
		}
	}
	return r.Location
}

// login logs username in to the app in browser c through the provider's forms,
// starting at /login?return_to=returnTo, and returns the provider's redirect to
// the callback and where the app then sends the user.
func (a *webapp) login(t testing.TB, p *provider, c *http.Client, returnTo, username string) (callback *url.URL, next string) {
	t.Helper()
	callback = p.login(t, c, a.startLogin(t, p, c, returnTo), username)
	return callback, a.finishLogin(t, c, callback)
}

// me is the JSON of the app's /me.
type me struct {
	Sub    string         `json:"sub"`
	Iss    string         `json:"iss"`
	Claims map[string]any `json:"claims"`
}

// me returns the logged-in user of browser c, failing the test unless /me
// answers 200 JSON.
func (a *webapp) me(t testing.TB, c *http.Client) me {
	t.Helper()
	r := a.get(t, c, "/me")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /me: status %d, Content-Type %q: %s", r.Status, r.Header.Get("Content-Type"), snippet([]byte(r.Body)))
	}
	var m me
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("GET /me: %v: %s", err, snippet([]byte(r.Body)))
	}
	return m
}

// requireLoggedOut checks that /me answers 401 {"error":"login_required"}.
func (a *webapp) requireLoggedOut(t testing.TB, c *http.Client) {
	t.Helper()
	r := a.get(t, c, "/me")
	var body map[string]any
	err := json.Unmarshal([]byte(r.Body), &body)
	if r.Status != http.StatusUnauthorized || err != nil || len(body) != 1 || body["error"] != "login_required" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /me: status %d, Content-Type %q, body %s; want 401 JSON {\"error\":\"login_required\"}",
			r.Status, r.Header.Get("Content-Type"), snippet([]byte(r.Body)))
	}
}

// callAPI requests the app's /api in browser c and returns the access token the
// API received, after the API checked it at the provider's userinfo endpoint.
func (a *webapp) callAPI(t testing.TB, c *http.Client) string {
	t.Helper()
	return apiToken(t, a.get(t, c, "/api"))
}

// apiToken reads the answer of /api relayed from the echo API.
func apiToken(t testing.TB, r appResponse) string {
	t.Helper()
	var echo struct {
		Token string `json:"token"`
		Sub   string `json:"sub"`
	}
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api: status %d: %s", r.Status, snippet([]byte(r.Body)))
	}
	if err := json.Unmarshal([]byte(r.Body), &echo); err != nil || echo.Token == "" || echo.Sub == "" {
		t.Fatalf("GET /api: bad answer %s (%v)", snippet([]byte(r.Body)), err)
	}
	return echo.Token
}

// startEchoAPI starts the API behind the app's /api route. GET /me checks the
// bearer token at the provider's userinfo endpoint, so that only a valid,
// unexpired access token passes, and answers {"token":…,"sub":…}; any other
// request gets 401 {"error":"invalid_token",…}. It returns the API's base URL.
func startEchoAPI(t testing.TB, p *provider) string {
	t.Helper()
	userinfo := p.discovery(t).UserinfoEndpoint
	hc := &http.Client{Timeout: 5 * time.Second}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.Method != http.MethodGet || r.URL.Path != "/me" || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token", "why": "no bearer token"})
			return
		}
		sub, err := userinfoSubject(r.Context(), hc, userinfo, token)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_token", "why": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"token": token, "sub": sub})
	}))
	t.Cleanup(api.Close)
	return api.URL
}

// userinfoSubject returns the sub the provider's userinfo endpoint answers for
// an access token.
func userinfoSubject(ctx context.Context, hc *http.Client, userinfo, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, userinfo, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("userinfo: status %d: %s", resp.StatusCode, snippet(body))
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &claims); err != nil || claims.Sub == "" {
		return "", errors.Join(errors.New("userinfo: no sub"), err)
	}
	return claims.Sub, nil
}

// sessionCookie is the name of the app's session cookie; a large session is
// continued in keyway.1, keyway.2, …
const sessionCookie = "keyway"

// setsSession reports whether a response writes the session cookie (not merely
// deletes it).
func setsSession(h http.Header) bool {
	return slices.ContainsFunc(sessionCookies(h), func(c *http.Cookie) bool { return c.MaxAge >= 0 && c.Value != "" })
}

// deletesSession reports whether a response deletes the session cookie.
func deletesSession(h http.Header) bool {
	return slices.ContainsFunc(sessionCookies(h), func(c *http.Cookie) bool { return c.MaxAge < 0 && c.Name == sessionCookie })
}

func sessionCookies(h http.Header) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == sessionCookie || strings.HasPrefix(c.Name, sessionCookie+".") {
			out = append(out, c)
		}
	}
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails
	return b
}
