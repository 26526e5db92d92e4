package rp_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// baseConfig is a valid RP configuration for issuer, for tests of New.
func baseConfig(t testing.TB, issuer string) rp.Config {
	t.Helper()
	store, err := session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return rp.Config{
		Issuer: issuer, ClientID: "app", ClientSecret: "app-secret",
		RedirectURL: "http://127.0.0.1:1/callback",
		Sessions:    store, TransactionStore: store,
	}
}

// newProvider starts an oidctest provider with faults set.
func newProvider(t testing.TB, cfg oidctest.Config, f oidctest.Faults) *oidctest.Server {
	t.Helper()
	op := oidctest.NewServer(cfg)
	t.Cleanup(op.Close)
	op.SetFaults(f)
	return op
}

func TestNewDiscovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(doc map[string]any)
		public bool  // a client without a secret
		want   error // nil: any error
	}{
		{name: "another issuer", edit: func(d map[string]any) { d["issuer"] = "https://evil.example" }, want: rp.ErrIssuerMismatch},
		{name: "issuer with a trailing slash", edit: func(d map[string]any) { d["issuer"] = d["issuer"].(string) + "/" }, want: rp.ErrIssuerMismatch},
		{name: "no issuer", edit: func(d map[string]any) { delete(d, "issuer") }, want: rp.ErrIssuerMismatch},
		{name: "no authorization_endpoint", edit: func(d map[string]any) { delete(d, "authorization_endpoint") }},
		{name: "no token_endpoint", edit: func(d map[string]any) { delete(d, "token_endpoint") }},
		{name: "no jwks_uri", edit: func(d map[string]any) { delete(d, "jwks_uri") }},
		{name: "only HS256, no secret to key it", public: true, edit: func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"HS256", "none"} }},
		{name: "only none", edit: func(d map[string]any) { d["id_token_signing_alg_values_supported"] = []string{"none"} }},
		{name: "http token endpoint on another host", edit: func(d map[string]any) { d["token_endpoint"] = "http://id.example.com/token" }},
		{name: "http jwks_uri on another host", edit: func(d map[string]any) { d["jwks_uri"] = "http://id.example.com/jwks" }},
		{name: "http userinfo_endpoint on another host", edit: func(d map[string]any) { d["userinfo_endpoint"] = "http://id.example.com/userinfo" }},
		{name: "http end_session_endpoint on another host", edit: func(d map[string]any) { d["end_session_endpoint"] = "http://id.example.com/logout" }},
		{name: "relative jwks_uri", edit: func(d map[string]any) { d["jwks_uri"] = "/jwks" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			op := newProvider(t, oidctest.Config{}, oidctest.Faults{Discovery: tt.edit})
			cfg := baseConfig(t, op.Issuer)
			if tt.public {
				cfg.ClientSecret = ""
			}
			_, err := rp.New(context.Background(), cfg)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("New: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestNewIssuerURL(t *testing.T) {
	t.Parallel()
	// None of these may reach the network: New refuses them first.
	for _, issuer := range []string{
		"http://id.example.com",
		"http://10.0.0.1",
		"http://localhost.example.com",
		"http://127.0.0.1.nip.io",
		"ftp://127.0.0.1",
		"127.0.0.1:8080",
		"https://id.example.com?tenant=a",
		"https://id.example.com#x",
		"https://",
	} {
		t.Run(issuer, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig(t, issuer)
			cfg.HTTPClient = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				t.Errorf("New fetched %s", r.URL)
				return nil, errors.New("no network in this test")
			})}
			if _, err := rp.New(context.Background(), cfg); err == nil {
				t.Fatal("New accepted the issuer")
			}
		})
	}
}

func TestNewRequiredConfig(t *testing.T) {
	t.Parallel()
	for name, edit := range map[string]func(*rp.Config){
		"Issuer":           func(c *rp.Config) { c.Issuer = "" },
		"ClientID":         func(c *rp.Config) { c.ClientID = "" },
		"RedirectURL":      func(c *rp.Config) { c.RedirectURL = "" },
		"Sessions":         func(c *rp.Config) { c.Sessions = nil },
		"TransactionStore": func(c *rp.Config) { c.TransactionStore = nil },
	} {
		cfg := baseConfig(t, "https://id.example.com")
		edit(&cfg)
		if _, err := rp.New(context.Background(), cfg); err == nil {
			t.Errorf("New without %s succeeded", name)
		}
	}
}

// TestNewDiscoveryTooLarge serves a 20 MB discovery document: New must
// fail after reading about the size cap, not the whole body.
func TestNewDiscoveryTooLarge(t *testing.T) {
	t.Parallel()
	huge := `{"issuer":"` + strings.Repeat("x", 20<<20) + `"}`
	op := newProvider(t, oidctest.Config{}, oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointDiscovery: {Status: http.StatusOK, Body: huge},
	}})
	var read atomic.Int64
	cfg := baseConfig(t, op.Issuer)
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			resp.Body = countingBody{resp.Body, &read}
		}
		return resp, err
	})}
	if _, err := rp.New(context.Background(), cfg); err == nil {
		t.Fatal("New accepted a 20 MB discovery document")
	}
	if n := read.Load(); n > 2<<20 {
		t.Fatalf("New read %d bytes of the discovery document, want about 1 MiB", n)
	}
}

func TestNewDiscoverySlow(t *testing.T) {
	t.Parallel()
	op := newProvider(t, oidctest.Config{}, oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointDiscovery: {Delay: 5 * time.Second},
	}})
	cfg := baseConfig(t, op.Issuer)
	cfg.HTTPClient = &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	if _, err := rp.New(context.Background(), cfg); err == nil {
		t.Fatal("New succeeded against a provider that does not answer")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("New gave up after %v, want about the 100ms timeout", d)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// TestRedirectsOnlyToSecureURLs: a discovery document behind a redirect is
// followed to https or loopback only, and only so far.
func TestRedirectsOnlyToSecureURLs(t *testing.T) {
	t.Parallel()
	op := newProvider(t, oidctest.Config{}, oidctest.Faults{})
	tests := []struct {
		name   string
		target string // where the well-known URL redirects
		ok     bool
	}{
		{"to loopback", op.Issuer + "/.well-known/openid-configuration", true},
		// Reachable (every host name dials loopback here), but not https.
		{"to http on another host", "http://id.example:" + op.URL[strings.LastIndex(op.URL, ":")+1:] + "/.well-known/openid-configuration", false},
		{"in a loop", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			target := tt.target
			if target == "" {
				target = srv.URL + "/again"
			}
			var hits atomic.Int64
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, target, http.StatusFound)
			})
			cfg := baseConfig(t, op.Issuer)
			// The issuer's discovery is fetched through srv, which redirects.
			cfg.HTTPClient = &http.Client{Transport: rewriteHost{from: op.URL, to: srv.URL, path: "/.well-known/openid-configuration"}}
			_, err := rp.New(context.Background(), cfg)
			if tt.ok != (err == nil) {
				t.Fatalf("New: %v, want ok %v", err, tt.ok)
			}
			if n := hits.Load(); n > 5 {
				t.Fatalf("%d requests to the redirecting server, want at most 5", n)
			}
		})
	}
}

// rewriteHost sends the first request for from+path (not one following a
// redirect) to the server at to instead.
type rewriteHost struct{ from, to, path string }

func (rh rewriteHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if "http://"+r.URL.Host == rh.from && r.URL.Path == rh.path && r.Response == nil {
		r = r.Clone(r.Context())
		u, _ := url.Parse(rh.to)
		r.URL.Host = u.Host
		r.Host = u.Host
	}
	return loopbackDialer.RoundTrip(r)
}

// loopbackDialer connects to 127.0.0.1 whatever the host name, on the
// port asked for.
var loopbackDialer = &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
	},
}
