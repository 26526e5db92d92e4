package client_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// metadataServer is an https authorization server whose handler for each
// path is set by the test; it records the paths asked for.
type metadataServer struct {
	srv *httptest.Server

	mu    sync.Mutex
	paths []string
}

func newMetadataServer(t testing.TB, routes func(base string) map[string]http.HandlerFunc) *metadataServer {
	t.Helper()
	ms := &metadataServer{}
	var handlers map[string]http.HandlerFunc
	ms.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ms.mu.Lock()
		ms.paths = append(ms.paths, r.URL.Path)
		ms.mu.Unlock()
		if h, ok := handlers[r.URL.Path]; ok {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(ms.srv.Close)
	handlers = routes(ms.srv.URL)
	return ms
}

func (ms *metadataServer) asked() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.paths...)
}

// metadataJSON is a metadata document for issuer.
func metadataJSON(issuer string) string {
	b, _ := json.Marshal(map[string]any{
		"issuer":                                         issuer,
		"authorization_endpoint":                         issuer + "/authorize",
		"token_endpoint":                                 issuer + "/token",
		"jwks_uri":                                       issuer + "/jwks",
		"registration_endpoint":                          issuer + "/register",
		"scopes_supported":                               []string{"openid", "read"},
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "client_credentials"},
		"token_endpoint_auth_methods_supported":          []string{"private_key_jwt"},
		"code_challenge_methods_supported":               []string{"S256"},
		"revocation_endpoint":                            issuer + "/revoke",
		"introspection_endpoint":                         issuer + "/introspect",
		"pushed_authorization_request_endpoint":          issuer + "/par",
		"require_pushed_authorization_requests":          true,
		"device_authorization_endpoint":                  issuer + "/device",
		"authorization_response_iss_parameter_supported": true,
		"dpop_signing_alg_values_supported":              []string{"ES256"},
		"x_extension":                                    "kept",
	})
	return string(b)
}

func TestDiscover(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		path   string // of the issuer
		served string // the path the document is served at
		asked  []string
	}{
		{"path insertion", "/tenant", "/.well-known/oauth-authorization-server/tenant", nil},
		{"no path", "", "/.well-known/oauth-authorization-server", nil},
		{"terminating slash removed", "/tenant/", "/.well-known/oauth-authorization-server/tenant", nil},
		{"two segments", "/a/b", "/.well-known/oauth-authorization-server/a/b", nil},
		{"OpenID fallback", "/tenant", "/tenant/.well-known/openid-configuration",
			[]string{"/.well-known/oauth-authorization-server/tenant", "/tenant/.well-known/openid-configuration"}},
		{"OpenID fallback without path", "", "/.well-known/openid-configuration",
			[]string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms := newMetadataServer(t, func(base string) map[string]http.HandlerFunc {
				return map[string]http.HandlerFunc{tt.served: answer(200, metadataJSON(base+tt.path))}
			})
			issuer := ms.srv.URL + tt.path
			m, err := client.Discover(t.Context(), issuer, ms.srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			want := tt.asked
			if want == nil {
				want = []string{tt.served}
			}
			if got := ms.asked(); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("asked for %v, want %v", got, want)
			}
			if m.Issuer != issuer || m.JWKSURI != issuer+"/jwks" || m.RegistrationEndpoint != issuer+"/register" ||
				m.IntrospectionEndpoint != issuer+"/introspect" || len(m.GrantTypesSupported) != 2 ||
				m.TokenEndpointAuthMethodsSupported[0] != "private_key_jwt" || m.DPoPSigningAlgValuesSupported[0] != "ES256" ||
				m.ScopesSupported[1] != "read" || m.ResponseTypesSupported[0] != "code" || m.CodeChallengeMethodsSupported[0] != "S256" ||
				m.Raw["x_extension"] != "kept" {
				t.Fatalf("metadata %+v", m)
			}
			wantEndpoint := client.Endpoint{
				Issuer: issuer, AuthURL: issuer + "/authorize", TokenURL: issuer + "/token", PARURL: issuer + "/par",
				RevocationURL: issuer + "/revoke", DeviceAuthURL: issuer + "/device",
				RequirePAR: true, IssParameterSupported: true,
			}
			if got := m.Endpoint(); got != wantEndpoint {
				t.Fatalf("Endpoint() = %+v, want %+v", got, wantEndpoint)
			}
		})
	}
}

func TestDiscoverFailures(t *testing.T) {
	t.Parallel()
	huge := `{"issuer":"x","pad":"` + strings.Repeat("a", client.DefaultMaxResponseBytes) + `"}`
	tests := []struct {
		name     string
		path     string
		routes   func(base string) map[string]http.HandlerFunc
		issuer   func(base string) string // default base+path
		wantErr  error
		maxAsked int
	}{
		{name: "issuer mismatch", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, metadataJSON("https://evil.example"))}
		}, wantErr: client.ErrIssuerMismatch, maxAsked: 1},
		{name: "issuer mismatch, trailing slash", path: "/t", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server/t": answer(200, metadataJSON(base+"/t/"))}
		}, wantErr: client.ErrIssuerMismatch, maxAsked: 1},
		{name: "issuer mismatch in the fallback", path: "/t", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/t/.well-known/openid-configuration": answer(200, metadataJSON(base+"/other"))}
		}, wantErr: client.ErrIssuerMismatch, maxAsked: 2},
		{name: "oversized", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, huge)}
		}, wantErr: client.ErrResponseTooLarge, maxAsked: 1},
		{name: "oversized, no length", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": func(w http.ResponseWriter, r *http.Request) {
				for range 3 {
					w.Write([]byte(huge[:len(huge)/2]))
					w.(http.Flusher).Flush()
				}
			}}
		}, wantErr: client.ErrResponseTooLarge, maxAsked: 1},
		{name: "not JSON", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, "<html>")}
		}, wantErr: client.ErrMalformedResponse, maxAsked: 1},
		{name: "JSON array", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, "[]")}
		}, wantErr: client.ErrMalformedResponse, maxAsked: 1},
		{name: "wrong member type", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, `{"issuer":"`+base+`","token_endpoint":1}`)}
		}, wantErr: client.ErrMalformedResponse, maxAsked: 1},
		{name: "500, no fallback", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{
				"/.well-known/oauth-authorization-server": answer(500, `{}`),
				"/.well-known/openid-configuration":       answer(200, metadataJSON(base)),
			}
		}, maxAsked: 1},
		{name: "both 404", maxAsked: 2},
		{name: "redirect loop", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, r.URL.Path, http.StatusFound)
			}}
		}, maxAsked: 6},
		{name: "http issuer not on loopback", issuer: func(string) string { return "http://as.example" }},
		{name: "issuer with query", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, metadataJSON(base+"?tenant=a"))}
		}, issuer: func(base string) string { return base + "?tenant=a" }},
		{name: "issuer with empty query", routes: func(base string) map[string]http.HandlerFunc {
			return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": answer(200, metadataJSON(base+"?"))}
		}, issuer: func(base string) string { return base + "?" }},
		{name: "issuer with fragment", issuer: func(base string) string { return base + "#a" }},
		{name: "relative issuer", issuer: func(string) string { return "/tenant" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			routes := tt.routes
			if routes == nil {
				routes = func(string) map[string]http.HandlerFunc { return nil }
			}
			ms := newMetadataServer(t, routes)
			issuer := ms.srv.URL + tt.path
			if tt.issuer != nil {
				issuer = tt.issuer(ms.srv.URL)
			}
			m, err := client.Discover(t.Context(), issuer, ms.srv.Client())
			if err == nil || m != nil {
				t.Fatalf("Discover succeeded: %+v", m)
			}
			if tt.wantErr != nil {
				wantIs(t, err, tt.wantErr)
			}
			if n := len(ms.asked()); n > tt.maxAsked {
				t.Fatalf("%d requests, want at most %d", n, tt.maxAsked)
			}
			if !strings.HasPrefix(err.Error(), "client: discovery: ") {
				t.Fatalf("error %q lacks its prefix", err)
			}
		})
	}
}

// plainHTTPHost answers requests to host in memory with body, and sends
// the others with base.
type plainHTTPHost struct {
	host, body string
	base       http.RoundTripper
}

func (p plainHTTPHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != p.host {
		return p.base.RoundTrip(r)
	}
	return &http.Response{StatusCode: 200, Request: r, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(p.body))}, nil
}

func TestDiscoverRefusesRedirectToHTTP(t *testing.T) {
	t.Parallel()
	ms := newMetadataServer(t, func(base string) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{"/.well-known/oauth-authorization-server": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://as.example/.well-known/oauth-authorization-server", http.StatusFound)
		}}
	})
	hc := ms.srv.Client()
	hc.Transport = plainHTTPHost{host: "as.example", body: metadataJSON(ms.srv.URL), base: hc.Transport}
	m, err := client.Discover(t.Context(), ms.srv.URL, hc)
	if err == nil || m != nil {
		t.Fatal("Discover followed a redirect to http")
	}
}

func TestDiscoverRedirectToHTTPS(t *testing.T) {
	t.Parallel()
	ms := newMetadataServer(t, func(base string) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{
			"/.well-known/oauth-authorization-server": func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, base+"/moved", http.StatusMovedPermanently)
			},
			"/moved": answer(200, metadataJSON(base)),
		}
	})
	if _, err := client.Discover(t.Context(), ms.srv.URL, ms.srv.Client()); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverOIDCTest(t *testing.T) {
	t.Parallel()
	op := oidctest.NewServer(oidctest.Config{IssuerPath: "/tenant-a"})
	t.Cleanup(op.Close)
	m, err := client.Discover(t.Context(), op.Issuer, nil) // loopback http, default client
	if err != nil {
		t.Fatal(err)
	}
	reqs := op.Requests(oidctest.EndpointDiscovery)
	if len(reqs) != 1 || reqs[0].URL.Path != "/.well-known/oauth-authorization-server/tenant-a" {
		t.Fatalf("discovery requests %v", reqs)
	}
	if _, err := client.New(client.Config{ClientID: "app", Endpoint: m.Endpoint()}); err != nil {
		t.Fatalf("New with the discovered endpoint: %v", err)
	}
	if m.TokenEndpoint != op.Issuer+"/token" || !m.AuthorizationResponseIssParameterSupported {
		t.Fatalf("metadata %+v", m)
	}
	// The same server named with a terminating slash is another issuer.
	_, err = client.Discover(t.Context(), op.Issuer+"/", nil)
	wantIs(t, err, client.ErrIssuerMismatch)
}
