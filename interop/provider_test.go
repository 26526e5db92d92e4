// Package interop tests Keyway against a real OpenID Provider: panva's oidc-provider,
// run by node from interop/provider.mjs. See README.md.
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
)

const (
	readyTimeout  = 20 * time.Second // node start, key generation, ready line
	stopTimeout   = 5 * time.Second  // SIGTERM to exit, before SIGKILL
	maxBodySize   = 1 << 20          // cap on every response body read here
	maxLoginSteps = 12               // requests one login may take (7 in the usual case)
)

// providerOptions configures one provider process. The zero value runs the default
// clients (webapp, service, cli) with 5-minute access and ID tokens.
type providerOptions struct {
	// Clients, when non-nil, replaces the default static clients; each map is
	// oidc-provider client metadata (client_id, client_secret, redirect_uris, ...).
	Clients []map[string]any
	// AccessTokenTTL, IDTokenTTL and RefreshTokenTTL are token lifetimes in whole
	// seconds; zero keeps the defaults (5 min, 5 min, 1 day).
	AccessTokenTTL, IDTokenTTL, RefreshTokenTTL time.Duration
	// DPoPNonces makes every DPoP proof need a nonce from the provider.
	DPoPNonces bool
}

// provider is a running oidc-provider on a free 127.0.0.1 port.
type provider struct {
	// Issuer is the exact issuer the provider announced, "http://127.0.0.1:<port>".
	Issuer string

	http *http.Client // for discovery and registration; has a timeout
}

// env returns the environment of the node process: ours, less anything inherited
// that would change the provider, plus the options.
func (o providerOptions) env(t testing.TB) []string {
	t.Helper()
	knobs := []string{"PORT", "INTEROP_CLIENTS", "ACCESS_TOKEN_TTL", "ID_TOKEN_TTL", "REFRESH_TOKEN_TTL", "IGNORE_STDIN", "DPOP_NONCES"}
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(knobs, name) {
			env = append(env, kv)
		}
	}
	if o.Clients != nil {
		clients, err := json.Marshal(o.Clients)
		if err != nil {
			t.Fatalf("interop: encoding clients: %v", err)
		}
		env = append(env, "INTEROP_CLIENTS="+string(clients))
	}
	if o.DPoPNonces {
		env = append(env, "DPOP_NONCES=1")
	}
	for name, d := range map[string]time.Duration{
		"ACCESS_TOKEN_TTL":  o.AccessTokenTTL,
		"ID_TOKEN_TTL":      o.IDTokenTTL,
		"REFRESH_TOKEN_TTL": o.RefreshTokenTTL,
	} {
		switch {
		case d == 0:
		case d < time.Second || d%time.Second != 0:
			t.Fatalf("interop: %s must be a whole number of seconds, got %v", name, d)
		default:
			env = append(env, fmt.Sprintf("%s=%d", name, d/time.Second))
		}
	}
	return env
}

// startProvider runs `node provider.mjs` and returns once the provider answers its
// discovery document. The process is stopped in t.Cleanup; its stderr is logged if
// the test failed. Without node or interop/node_modules the test is skipped, or
// fails when CI=true.
func startProvider(t testing.TB, opts providerOptions) *provider {
	t.Helper()
	node := requireNode(t)

	cmd := exec.Command(node, "provider.mjs")
	cmd.Env = opts.env(t)
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	stdout := newLineWatcher()
	cmd.Stdout = stdout
	stdin, err := cmd.StdinPipe() // the provider exits when this closes
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	cmd.WaitDelay = stopTimeout // never block in Wait on a stuck pipe
	if err := cmd.Start(); err != nil {
		t.Fatalf("interop: starting node: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("interop: provider stderr:\n%s", stderr.String())
		}
	})

	var line string
	select {
	case line = <-stdout.first:
	case <-exited:
		t.Fatalf("interop: provider exited before it was ready: %v", waitErr)
	case <-time.After(readyTimeout):
		t.Fatalf("interop: provider printed no ready line within %v", readyTimeout)
	}
	var ready struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal([]byte(line), &ready); err != nil || !strings.HasPrefix(ready.Issuer, "http://127.0.0.1:") {
		t.Fatalf("interop: bad ready line %q (%v)", line, err)
	}

	p := &provider{
		Issuer: ready.Issuer,
		http:   &http.Client{Timeout: 5 * time.Second},
	}
	p.waitReady(t)
	return p
}

// requireNode returns the path of node, after checking that the npm packages are
// installed next to this file (testenv skips, or fails under CI=true, otherwise).
func requireNode(t testing.TB) string {
	t.Helper()
	node, _ := testenv.Node(t)
	// go test caches results by the files the test touches; node reads these.
	for _, name := range []string{"provider.mjs", "package-lock.json"} {
		if _, err := os.Stat(name); err != nil {
			t.Fatalf("interop: %v", err)
		}
	}
	return node
}

// waitReady polls the discovery document until it answers 200.
func (p *provider) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for try := 0; try < 50 && time.Now().Before(deadline); try++ {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err = p.Discovery(ctx)
		cancel()
		if err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("interop: provider at %s never served discovery: %v", p.Issuer, err)
}

// discovery is the part of the provider's metadata the tests use; Raw has all of it.
type discovery struct {
	Issuer                                     string `json:"issuer"`
	AuthorizationEndpoint                      string `json:"authorization_endpoint"`
	TokenEndpoint                              string `json:"token_endpoint"`
	JWKSURI                                    string `json:"jwks_uri"`
	UserinfoEndpoint                           string `json:"userinfo_endpoint"`
	RegistrationEndpoint                       string `json:"registration_endpoint"`
	RevocationEndpoint                         string `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string `json:"introspection_endpoint"`
	EndSessionEndpoint                         string `json:"end_session_endpoint"`
	DeviceAuthorizationEndpoint                string `json:"device_authorization_endpoint"`
	PushedAuthorizationRequestEndpoint         string `json:"pushed_authorization_request_endpoint"`
	AuthorizationResponseISSParameterSupported bool   `json:"authorization_response_iss_parameter_supported"`

	Raw map[string]any `json:"-"`
}

// Discovery fetches {Issuer}/.well-known/openid-configuration.
func (p *provider) Discovery(ctx context.Context) (*discovery, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return nil, err
	}
	body, err := p.do(req, http.StatusOK)
	if err != nil {
		return nil, err
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("interop: discovery: %w", err)
	}
	if err := json.Unmarshal(body, &d.Raw); err != nil {
		return nil, fmt.Errorf("interop: discovery: %w", err)
	}
	return &d, nil
}

// discovery is Discovery for tests: it fails the test on error.
func (p *provider) discovery(t testing.TB) *discovery {
	t.Helper()
	d, err := p.Discovery(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// registerClient registers a client by dynamic registration (RFC 7591) and returns
// its id and secret (empty for token_endpoint_auth_method "none"). Metadata is sent
// as is; oidc-provider fills in its defaults (see README.md).
func (p *provider) registerClient(t testing.TB, metadata map[string]any) (clientID, secret string) {
	t.Helper()
	d := p.discovery(t)
	body, err := json.Marshal(metadata)
	if err != nil {
		t.Fatalf("interop: register client: %v", err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("interop: register client: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.do(req, http.StatusCreated)
	if err != nil {
		t.Fatalf("interop: register client: %v", err)
	}
	var client struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(resp, &client); err != nil || client.ClientID == "" {
		t.Fatalf("interop: register client: bad response %s (%v)", resp, err)
	}
	return client.ClientID, client.ClientSecret
}

// do sends req and returns the body when the status is want.
func (p *provider) do(req *http.Request, want int) ([]byte, error) {
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("interop: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		return nil, fmt.Errorf("interop: %s %s: %w", req.Method, req.URL, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("interop: %s %s: status %d: %s", req.Method, req.URL, resp.StatusCode, snippet(body))
	}
	return body, nil
}

// lineWatcher is the provider's stdout: it sends the first line on first and
// discards everything after it.
type lineWatcher struct {
	first chan string
	mu    sync.Mutex
	buf   []byte
	sent  bool
}

func newLineWatcher() *lineWatcher {
	return &lineWatcher{first: make(chan string, 1)}
}

func (w *lineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sent {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	if line, _, ok := bytes.Cut(w.buf, []byte("\n")); ok {
		w.first <- string(line)
		w.sent, w.buf = true, nil
	} else if len(w.buf) > 64<<10 {
		return 0, errors.New("interop: no newline in the provider's first 64 KiB of stdout")
	}
	return len(p), nil
}

// newBrowser returns an HTTP client with its own cookie jar, as a user agent that
// keeps the provider's session between logins.
func newBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 5 * time.Second}
}

// snippet shortens a response body for an error message.
func snippet(body []byte) string {
	const max = 500
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// hostOf returns the host:port of a URL, or "" if it does not parse.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
