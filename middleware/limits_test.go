package middleware

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
)

// countingTransport counts the response bytes its callers read.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestKeySetFetch20MB: a 20 MB discovery document or key set is read up
// to the cap only, and the fetch fails saying why.
func TestKeySetFetch20MB(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		jwksPath string // "": discover the key set URL
		requests int64  // discovery tries two documents
	}{
		{name: "discovery", requests: 2},
		{name: "key set", jwksPath: "/jwks", requests: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs := testenv.NewFloodServer(t, `{"keys":[],"pad":"`)
			counter := &countingTransport{}
			n := &counters{}
			cfg := Config{Issuer: fs.URL, Audiences: []string{testAudience}, HTTPClient: &http.Client{Transport: counter}, Hooks: n.hooks()}
			if tt.jwksPath != "" {
				cfg.JWKSURL = fs.URL + tt.jwksPath
			}
			v, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the first fetch", func() bool { return n.fetches.Load() > 0 })
			v.Close() // no retry
			if err := n.lastErr(); err == nil || !strings.Contains(err.Error(), "larger than") {
				t.Errorf("fetch error %v, want one about the size", err)
			}
			if got := fs.Requests(); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
			if got := counter.n.Load(); got > tt.requests*(maxFetchBytes+1) {
				t.Errorf("read %d bytes in %d requests, want at most %d each", got, tt.requests, maxFetchBytes+1)
			}
			fs.CheckCutOff(t)
		})
	}
}

// TestKeySetFetchTimesOut: a key set endpoint that does not answer fails
// the fetch at the HTTP client's timeout.
func TestKeySetFetchTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	n := &counters{}
	start := time.Now()
	v, err := New(context.Background(), Config{
		Issuer: srv.URL, JWKSURL: srv.URL + "/jwks", Audiences: []string{testAudience},
		HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}, Hooks: n.hooks(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	waitFor(t, "the first fetch", func() bool { return n.fetches.Load() > 0 })
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the fetch failed after %v, want about 200ms", d)
	}
	if err := n.lastErr(); err == nil || !strings.Contains(err.Error(), "Timeout exceeded") {
		t.Errorf("fetch error %v, want a timeout", err)
	}
}

// TestCallsHaveDeadlines: with an HTTPClient that has no timeout, every
// discovery, key set and introspection request still has a deadline of
// at most its timeout.
func TestCallsHaveDeadlines(t *testing.T) {
	t.Parallel()
	dt := &testenv.DeadlineTransport{}
	n := &counters{}
	v, err := New(context.Background(), Config{
		Issuer: "https://as.example.com", Audiences: []string{testAudience},
		HTTPClient:    &http.Client{Transport: dt},
		Introspection: &Introspection{ClientID: "id", ClientSecret: "secret", URL: "https://as.example.com/introspect"},
		Hooks:         n.hooks(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	waitFor(t, "the first fetch", func() bool { return n.fetches.Load() > 0 })
	if _, err := v.Verify(t.Context(), "opaque-token"); !errors.Is(err, ErrIntrospection) {
		t.Fatalf("Verify: %v, want ErrIntrospection", err)
	}
	for _, c := range []struct {
		path  string
		bound time.Duration
	}{
		{"/.well-known/openid-configuration", fetchTimeout},
		{"/.well-known/oauth-authorization-server", fetchTimeout},
		{"/introspect", defaultIntrospectionTimeout},
	} {
		switch ahead, ok := dt.Ahead(c.path); {
		case !ok:
			t.Errorf("%s was not requested", c.path)
		case ahead < 0:
			t.Errorf("%s was requested without a deadline", c.path)
		case ahead > c.bound:
			t.Errorf("%s had %v to go, want at most %v", c.path, ahead, c.bound)
		}
	}
}

// TestIntrospectionDiscoveryLimits: discovering the introspection
// endpoint is bounded in size and in time like the call itself.
func TestIntrospectionDiscoveryLimits(t *testing.T) {
	t.Parallel()
	keys := httptest.NewServer(http.NotFoundHandler()) // the key set is not under test
	t.Cleanup(keys.Close)
	t.Run("20 MB", func(t *testing.T) {
		t.Parallel()
		fs := testenv.NewFloodServer(t, `{"keys":[],"pad":"`)
		counter := &countingTransport{}
		v, err := New(context.Background(), Config{
			Issuer: fs.URL, JWKSURL: keys.URL + "/jwks", Audiences: []string{testAudience},
			Introspection: &Introspection{ClientID: "id", ClientSecret: "secret", HTTPClient: &http.Client{Transport: counter}},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		_, err = v.Verify(t.Context(), "opaque-token")
		if !errors.Is(err, ErrIntrospection) || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("Verify: %v, want ErrIntrospection about the size", err)
		}
		if got := counter.n.Load(); got > 2*(maxFetchBytes+1) {
			t.Errorf("read %d bytes for two documents, want at most %d each", got, maxFetchBytes+1)
		}
		fs.CheckCutOff(t)
	})
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(slow.Close)
		t.Cleanup(func() { close(release) }) // runs first
		v, err := New(context.Background(), Config{
			Issuer: slow.URL, JWKSURL: keys.URL + "/jwks", Audiences: []string{testAudience},
			Introspection: &Introspection{ClientID: "id", ClientSecret: "secret", Timeout: 200 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		start := time.Now()
		if _, err := v.Verify(t.Context(), "opaque-token"); !errors.Is(err, ErrIntrospection) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Verify: %v, want ErrIntrospection after the timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Verify took %v, want about the 200ms timeout", d)
		}
	})
}

// TestIncomingTokenCaps: a token over 16 KiB, in the Authorization header
// or in the cookie, is refused as malformed before anything else, and an
// opaque one never reaches the introspection endpoint.
func TestIncomingTokenCaps(t *testing.T) {
	t.Parallel()
	f := newIntroFixture(t, func(c *Config) { c.Cookie = "at" })
	h := f.v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the handler ran for an oversized token")
	}))
	long := strings.Repeat("a", maxTokenBytes+1)
	jwtLike := strings.Repeat("a", maxTokenBytes/2) + "." + strings.Repeat("b", maxTokenBytes/2) + ".c"
	for name, r := range map[string]*http.Request{
		"opaque Bearer":     request("/", long),
		"JWT-shaped Bearer": request("/", jwtLike),
		"1 MiB Bearer":      request("/", strings.Repeat("a", 1<<20)),
		"opaque cookie":     withCookie(httptest.NewRequest(http.MethodGet, "/", nil), "at", long),
		"JWT-shaped cookie": withCookie(httptest.NewRequest(http.MethodGet, "/", nil), "at", jwtLike),
	} {
		w := serve(h, r)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q, want 401 invalid_token", name, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	for name, token := range map[string]string{"opaque": long, "JWT-shaped": jwtLike} {
		if _, err := f.v.Verify(t.Context(), token); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify of a %s token over 16 KiB: %v, want ErrMalformed", name, err)
		}
	}
	if n := f.srv.calls.Load(); n != 0 {
		t.Errorf("%d introspection calls for oversized tokens, want none", n)
	}
}

func withCookie(r *http.Request, name, value string) *http.Request {
	r.AddCookie(&http.Cookie{Name: name, Value: value})
	return r
}
