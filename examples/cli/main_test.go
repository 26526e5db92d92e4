package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyway-go/keyway/examples/internal/api"
	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
)

const resource = "https://api.example.com"

// lines is an io.Writer that hands each complete line to a channel.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 64)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // incomplete: keep it
			return len(p), nil
		}
		select {
		case l.ch <- strings.TrimSpace(line):
		default: // nobody reads that many lines: drop
		}
	}
}

// await returns the first submatch of re in a line written within 10 s.
func (l *lines) await(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-l.ch:
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-timeout:
			t.Fatalf("no line matching %s", re)
		}
	}
}

// setup runs a provider with the public client "cli" and the example API.
func setup(t *testing.T) (p *oidctest.Server, apiURL string) {
	t.Helper()
	p = oidctest.NewServer(oidctest.Config{
		Clients:        []oidctest.Client{{ID: "cli", RedirectURIs: []string{"http://127.0.0.1/callback"}}},
		DeviceInterval: 50 * time.Millisecond,
	})
	t.Cleanup(p.Close)
	a, err := api.New(t.Context(), api.Config{Issuer: p.Issuer, Audience: resource, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// start runs the cli with args in the background and returns its stderr
// lines and a channel with run's error.
func start(t *testing.T, p *oidctest.Server, apiURL string, stdout io.Writer, args ...string) (*lines, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	stderr := newLines()
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- run(ctx, args, env(map[string]string{
			"OIDC_ISSUER": p.Issuer, "OIDC_CLIENT_ID": "cli", "OIDC_RESOURCE": resource, "API_URL": apiURL,
		}), stdout, stderr)
	}()
	return stderr, done
}

var loggedIn = regexp.MustCompile(`(?m)^logged in: Bearer token, scope "openid profile offline_access", expires \S+, refresh token: true$`)
var apiAnswer = regexp.MustCompile(`(?m)^GET http://127\.0\.0\.1:\d+/me: 200 \{"client_id":"cli","scope":\[.*\],"sub":"ada"\}$`)

func TestBrowserLogin(t *testing.T) {
	t.Parallel()
	p, apiURL := setup(t)
	var stdout testenv.Buffer
	stderr, done := start(t, p, apiURL, &stdout, "-browser=false")
	authURL := stderr.await(t, regexp.MustCompile(`^(http://127\.0\.0\.1:\d+/authorize\?\S+)$`))[1]
	if !strings.Contains(authURL, "code_challenge_method=S256") || !strings.Contains(authURL, "redirect_uri=http%3A%2F%2F127.0.0.1%3A") {
		t.Errorf("authorization URL %s lacks PKCE or a loopback redirect URI", authURL)
	}
	// The browser: oidctest approves at once and redirects to the loopback
	// listener, whose page ends the login.
	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback page: %d %s", resp.StatusCode, page)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := stdout.String()
	if !loggedIn.MatchString(out) || !apiAnswer.MatchString(out) {
		t.Errorf("stdout:\n%s\nwant the login line and the API's 200 answer", out)
	}
	if strings.Contains(out, "ey") {
		t.Errorf("stdout shows a token:\n%s", out)
	}
}

func TestDeviceLogin(t *testing.T) {
	t.Parallel()
	p, apiURL := setup(t)
	var stdout testenv.Buffer
	stderr, done := start(t, p, apiURL, &stdout, "-device")
	m := stderr.await(t, regexp.MustCompile(`^On any device, open (\S+) and enter the code (\S+)$`))
	if !strings.HasPrefix(m[1], p.Issuer+"/") {
		t.Errorf("verification URI %s is not the provider's", m[1])
	}
	if err := p.ApproveDevice(m[2], "ada"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if out := stdout.String(); !loggedIn.MatchString(out) || !apiAnswer.MatchString(out) {
		t.Errorf("stdout:\n%s\nwant the login line and the API's 200 answer", out)
	}
}

func TestDeviceDenied(t *testing.T) {
	t.Parallel()
	p, apiURL := setup(t)
	stderr, done := start(t, p, apiURL, io.Discard, "-device")
	m := stderr.await(t, regexp.MustCompile(`enter the code (\S+)$`))
	if err := p.DenyDevice(m[1]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "denied") {
		t.Fatalf("run: %v, want access denied", err)
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	if _, err := loadConfig(nil, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "OIDC_ISSUER is required") {
		t.Errorf("no settings: %v", err)
	}
	if _, err := loadConfig([]string{"extra"}, env(map[string]string{"OIDC_ISSUER": "x", "OIDC_CLIENT_ID": "y"}), io.Discard); err == nil {
		t.Error("an extra argument was accepted")
	}
	c, err := loadConfig([]string{"-device"}, env(map[string]string{"OIDC_ISSUER": "x", "OIDC_CLIENT_ID": "y"}), io.Discard)
	if err != nil || !c.device || !c.browser || strings.Join(c.scopes, " ") != "openid profile offline_access" {
		t.Errorf("config = %+v, %v", c, err)
	}
}
