package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
)

// callSite is one kind of outgoing call of a Client, made against base.
type callSite struct {
	name string
	call func(ctx context.Context, c *client.Client, hc *http.Client, base string) error
}

// callSites lists the outgoing calls the existing tests do not cover for
// size and time: token requests are covered in exchange_test.go.
var callSites = []callSite{
	{"pushed authorization request", func(ctx context.Context, c *client.Client, _ *http.Client, _ string) error {
		_, err := c.AuthCodeURL(ctx)
		return err
	}},
	{"device authorization", func(ctx context.Context, c *client.Client, _ *http.Client, _ string) error {
		_, err := c.DeviceAuth(ctx)
		return err
	}},
	{"device token poll", func(ctx context.Context, c *client.Client, _ *http.Client, _ string) error {
		_, err := c.DeviceToken(ctx, &client.DeviceAuth{DeviceCode: "dc", Expiry: time.Now().Add(time.Minute), Interval: 10 * time.Millisecond})
		return err
	}},
	{"revocation", func(ctx context.Context, c *client.Client, _ *http.Client, _ string) error {
		return c.Revoke(ctx, "tok", "refresh_token")
	}},
	{"token exchange", func(ctx context.Context, c *client.Client, _ *http.Client, _ string) error {
		_, err := c.TokenExchange(ctx, client.TokenExchangeRequest{SubjectToken: "subject"})
		return err
	}},
	{"discovery", func(ctx context.Context, _ *client.Client, hc *http.Client, base string) error {
		_, err := client.Discover(ctx, base, hc)
		return err
	}},
}

// limitsClient returns a client whose every endpoint is on base, sending
// through hc.
func limitsClient(t testing.TB, base string, hc *http.Client) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		ClientID: "app", ClientSecret: "secret",
		Endpoint: client.Endpoint{
			AuthURL: base + "/authorize", TokenURL: base + "/token", PARURL: base + "/par",
			RevocationURL: base + "/revoke", DeviceAuthURL: base + "/device",
		},
		RedirectURL: redirectURI,
		UsePAR:      true,
		HTTPClient:  hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestOutgoingCalls20MB: every call site stops reading a 20 MB answer at
// the cap, says it was too large, and does not ask again.
func TestOutgoingCalls20MB(t *testing.T) {
	t.Parallel()
	for _, site := range callSites {
		t.Run(site.name, func(t *testing.T) {
			t.Parallel()
			fs := testenv.NewFloodServer(t, `{"pad":"`)
			counter := &countingTransport{}
			hc := &http.Client{Transport: counter, Timeout: 10 * time.Second}
			c := limitsClient(t, fs.URL, hc)
			start := time.Now()
			err := site.call(t.Context(), c, hc, fs.URL)
			wantIs(t, err, client.ErrResponseTooLarge)
			if !strings.Contains(err.Error(), "too large") {
				t.Errorf("error %q does not say the response was too large", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the call took %v", d)
			}
			if n := counter.n.Load(); n > client.DefaultMaxResponseBytes+1 {
				t.Errorf("read %d bytes of the response, want at most the cap", n)
			}
			if n := fs.Requests(); n != 1 {
				t.Errorf("%d requests, want 1: a response too large is not retried", n)
			}
			fs.CheckCutOff(t)
		})
	}
}

// TestOutgoingCallsSlowProvider: against a server that never answers,
// every call site fails with a timeout of its HTTP client, in about that
// time.
func TestOutgoingCallsSlowProvider(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	for _, site := range callSites {
		t.Run(site.name, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int64
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				_, _ = io.Copy(io.Discard, r.Body) // so that a hang-up cancels r's context
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(srv.Close)
			t.Cleanup(func() { close(release) }) // runs first
			hc := &http.Client{Timeout: timeout}
			c := limitsClient(t, srv.URL, hc)
			start := time.Now()
			err := site.call(t.Context(), c, hc, srv.URL)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("error %v, want a timeout", err)
			}
			// The device poll retries a few times, each bounded the same.
			bound := 2 * time.Second
			if site.name == "device token poll" {
				bound = 10 * time.Second
			}
			if d := time.Since(start); d > bound {
				t.Errorf("gave up after %v, want about %v per request (%d requests)", d, timeout, requests.Load())
			}
		})
	}
}

// deadlineRecorder records, for each request, how far ahead its context's
// deadline was when it was sent (-1: none), and answers 400.
type deadlineRecorder struct {
	mu    sync.Mutex
	ahead map[string]time.Duration // by path
}

func (d *deadlineRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	ahead := time.Duration(-1)
	if dl, ok := r.Context().Deadline(); ok {
		ahead = time.Until(dl)
	}
	d.mu.Lock()
	d.ahead[r.URL.Path] = ahead
	d.mu.Unlock()
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json")
	rec.WriteHeader(http.StatusBadRequest)
	rec.WriteString(`{"error":"invalid_request"}`)
	return rec.Result(), nil
}

// TestClientWithoutTimeoutGetsOne: a Config.HTTPClient (or Discover's
// client) without Timeout still bounds every call to the server by
// DefaultHTTPTimeout, while HTTPClientFor keeps the caller's choice.
func TestClientWithoutTimeoutGetsOne(t *testing.T) {
	t.Parallel()
	rec := &deadlineRecorder{ahead: map[string]time.Duration{}}
	hc := &http.Client{Transport: rec} // no Timeout
	const base = "https://as.example"
	c := limitsClient(t, base, hc)
	ctx := context.Background() // no deadline either
	_, _ = c.Refresh(ctx, "rt")
	_, _ = c.AuthCodeURL(ctx)
	_, _ = c.DeviceAuth(ctx)
	_ = c.Revoke(ctx, "tok", "")
	_, _ = client.Discover(ctx, base, hc)
	for _, path := range []string{"/token", "/par", "/device", "/revoke", "/.well-known/oauth-authorization-server"} {
		ahead, ok := rec.ahead[path]
		switch {
		case !ok:
			t.Errorf("%s was not requested", path)
		case ahead < 0:
			t.Errorf("%s was sent without a deadline", path)
		case ahead > client.DefaultHTTPTimeout:
			t.Errorf("%s had %v to go, want at most %v", path, ahead, client.DefaultHTTPTimeout)
		}
	}
	if got := c.HTTPClientFor(c.ClientCredentialsSource()).Timeout; got != 0 {
		t.Errorf("HTTPClientFor timeout %v, want none, as configured", got)
	}
	if got := limitsClient(t, base, nil).HTTPClientFor(c.ClientCredentialsSource()).Timeout; got != client.DefaultHTTPTimeout {
		t.Errorf("HTTPClientFor timeout with the default client %v, want %v", got, client.DefaultHTTPTimeout)
	}
}

// TestLoopbackRequestCaps: the loopback server refuses a request whose
// header (the query included) is over its cap, and the login goes on.
func TestLoopbackRequestCaps(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	tok, _, err := loopbackLogin(t, f, nil, client.LoopbackConfig{}, func(authURL, redirect string) {
		u, _ := url.Parse(authURL)
		state := url.QueryEscape(u.Query().Get("state"))
		for name, req := range map[string]func() (*http.Request, error){
			"64 KiB query": func() (*http.Request, error) {
				return http.NewRequest(http.MethodGet, redirect+"?code=x&state="+state+"&pad="+strings.Repeat("a", 64<<10), nil)
			},
			"64 KiB header": func() (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, redirect+"?code=x&state="+state, nil)
				if err == nil {
					r.Header.Set("X-Pad", strings.Repeat("a", 64<<10))
				}
				return r, err
			},
		} {
			r, err := req()
			if err != nil {
				t.Fatal(err)
			}
			resp, err := browserClient.Do(r)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s: status %d, want 431", name, resp.StatusCode)
			}
		}
		if status, _ := visit(t, authURL); status != http.StatusOK {
			t.Errorf("real response: status %d", status)
		}
	})
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("LoopbackLogin after oversized requests: %v", err)
	}
}
