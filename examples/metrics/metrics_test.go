package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/middleware"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// value returns the value of the counter name{labels} in reg, which must
// exist; labels are name=value pairs in any order, e.g. "result=success".
func value(t testing.TB, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if !contains(labels, l.GetName()+"="+l.GetValue()) {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s%v", name, labels)
	return 0
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// eventually waits, at most 5 s, for value to reach want: key-set fetches
// are counted by the fetching goroutine, just after the keys are in use.
func eventually(t testing.TB, reg prometheus.Gatherer, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for value(t, reg, name, labels...) != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, value(t, reg, name, labels...), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMiddlewareMetrics verifies tokens with a validator whose hooks
// newMetrics built, and reads the counters back.
func TestMiddlewareMetrics(t *testing.T) {
	t.Parallel()
	provider := oidctest.NewServer(oidctest.Config{})
	t.Cleanup(provider.Close)
	reg := prometheus.NewRegistry()
	_, hooks := newMetrics(reg)
	v, err := middleware.New(context.Background(), middleware.Config{Issuer: provider.Issuer, Audiences: []string{apiAudience}, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	token, err := provider.Sign(map[string]any{
		"iss": provider.Issuer, "aud": apiAudience, "sub": "ada",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	}, oidctest.SignOptions{Type: "at+jwt"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(context.Background(), token+"x"); err == nil {
		t.Fatal("a corrupted token was accepted")
	}
	for _, tt := range []struct {
		result, cache string
		want          float64
	}{
		{"success", "miss", 1},
		{"success", "hit", 1},
		{"failure", "miss", 1},
		{"failure", "hit", 0},
	} {
		if got := value(t, reg, "keyway_token_verifications_total", "result="+tt.result, "cache="+tt.cache); got != tt.want {
			t.Errorf("verifications{result=%s,cache=%s} = %v, want %v", tt.result, tt.cache, got, tt.want)
		}
	}
	eventually(t, reg, 1, "keyway_jwks_fetches_total", "result=success")
	if got := value(t, reg, "keyway_jwks_fetches_total", "result=failure"); got != 0 {
		t.Errorf("failed key-set fetches = %v", got)
	}
}

// TestRPMetrics calls the rp hooks as an RP would and checks the counters
// and that no label takes an error's text.
func TestRPMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	hooks, _ := newMetrics(reg)
	ctx := context.Background()
	hooks.LoginStarted(ctx)
	hooks.LoginStarted(ctx)
	hooks.LoginSucceeded(ctx)
	hooks.LoginFailed(ctx, rp.ReasonNonce, fmt.Errorf("%w: from <evil> provider", rp.ErrNonceMismatch))
	hooks.Refreshed(ctx, nil)
	hooks.Refreshed(ctx, fmt.Errorf("%w: %w", rp.ErrLoginRequired, &client.TokenError{Code: "invalid_grant"}))
	hooks.Refreshed(ctx, errors.New("connection refused"))
	hooks.Refreshed(ctx, errors.New("timeout"))
	hooks.LoggedOut(ctx)
	hooks.BackchannelLogout(ctx, nil)
	hooks.BackchannelLogout(ctx, rp.ErrInvalidLogoutToken)
	hooks.FrontchannelLogout(ctx, errors.New("bad iss"))

	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keyway_logins_total", []string{"result=started"}, 2},
		{"keyway_logins_total", []string{"result=success"}, 1},
		{"keyway_logins_total", []string{"result=failure"}, 1},
		{"keyway_login_failures_total", []string{"reason=nonce"}, 1},
		{"keyway_login_failures_total", []string{"reason=state"}, 0},
		{"keyway_refreshes_total", []string{"result=success"}, 1},
		{"keyway_refreshes_total", []string{"result=invalid_grant"}, 1},
		{"keyway_refreshes_total", []string{"result=failure"}, 2},
		{"keyway_logouts_total", []string{"channel=rp", "result=success"}, 1},
		{"keyway_logouts_total", []string{"channel=backchannel", "result=success"}, 1},
		{"keyway_logouts_total", []string{"channel=backchannel", "result=failure"}, 1},
		{"keyway_logouts_total", []string{"channel=frontchannel", "result=failure"}, 1},
		{"keyway_logouts_total", []string{"channel=frontchannel", "result=success"}, 0},
	} {
		if got := value(t, reg, tt.name, tt.labels...); got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	// Every series was created at zero, and no more appeared: the
	// errors' texts made none.
	n, err := testutil.GatherAndCount(reg)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 + len(loginReasons) + 3 + 5 + 4 + 2; n != want {
		t.Errorf("%d series, want %d", n, want)
	}
}

// TestRun runs the program: a login through the app and a call of the API
// with the printed token show in /metrics.
func TestRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		go io.Copy(io.Discard, pr)
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	lines := map[string]string{}
	sc := bufio.NewScanner(pr)
	for len(lines) < 4 && sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		lines[k] = strings.TrimSpace(v)
	}
	m := regexp.MustCompile(`^curl -H 'Authorization: Bearer (\S+)' (\S+)$`).FindStringSubmatch(lines["api"])
	if m == nil || lines["log in"] == "" || lines["metrics"] == "" {
		t.Fatalf("printed %q", lines)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	if status, body := fetch(t, browser, lines["log in"], ""); status != http.StatusOK || !strings.HasPrefix(body, "logged in as ada") {
		t.Fatalf("login: %d %s", status, body)
	}
	if status, body := fetch(t, browser, m[2], m[1]); status != http.StatusOK || body != "hello ada\n" {
		t.Fatalf("API: %d %s", status, body)
	}
	if status, _ := fetch(t, browser, m[2], "bad"); status != http.StatusUnauthorized {
		t.Fatalf("API with a bad token: %d", status)
	}
	_, body := fetch(t, browser, lines["metrics"], "")
	for _, want := range []string{
		`keyway_logins_total{result="started"} 1`,
		`keyway_logins_total{result="success"} 1`,
		`keyway_token_verifications_total{cache="miss",result="success"} 1`,
		`keyway_token_verifications_total{cache="miss",result="failure"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// fetch GETs u, with a bearer token if not empty, and returns the status
// and body.
func fetch(t testing.TB, c *http.Client, u, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
