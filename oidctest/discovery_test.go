package oidctest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

func TestDiscoveryDocument(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	res := get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration")
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, want 200", res.status)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	doc := res.json(t)
	iss := srv.Issuer
	wantClaims(t, doc, map[string]any{
		"issuer":                                         iss,
		"authorization_endpoint":                         iss + "/authorize",
		"token_endpoint":                                 iss + "/token",
		"userinfo_endpoint":                              iss + "/userinfo",
		"jwks_uri":                                       iss + "/jwks",
		"end_session_endpoint":                           iss + "/end_session",
		"revocation_endpoint":                            iss + "/revoke",
		"introspection_endpoint":                         iss + "/introspect",
		"pushed_authorization_request_endpoint":          iss + "/par",
		"device_authorization_endpoint":                  iss + "/device_authorization",
		"require_pushed_authorization_requests":          false,
		"authorization_response_iss_parameter_supported": true,
		"backchannel_logout_supported":                   true,
		"backchannel_logout_session_supported":           true,
		"code_challenge_methods_supported":               []string{"S256"},
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query", "form_post"},
		"grant_types_supported": []string{"authorization_code", "refresh_token", "client_credentials",
			"urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange"},
		"dpop_signing_alg_values_supported":     []string{"ES256", "ES384", "RS256", "PS256", "EdDSA"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
	})
	methods := []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
	for _, field := range []string{
		"token_endpoint_auth_methods_supported",
		"revocation_endpoint_auth_methods_supported",
		"introspection_endpoint_auth_methods_supported",
	} {
		if got := stringList(t, doc[field]); !sameSet(got, methods) {
			t.Errorf("%s = %v, want %v", field, got, methods)
		}
	}
	for _, alg := range []string{"HS256", "HS384", "HS512", "RS256", "ES256"} {
		if got := stringList(t, doc["token_endpoint_auth_signing_alg_values_supported"]); !slices.Contains(got, alg) {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported = %v, missing %s", got, alg)
		}
	}
	scopes := stringList(t, doc["scopes_supported"])
	for _, want := range []string{"openid", "profile", "email", "offline_access"} {
		if !slices.Contains(scopes, want) {
			t.Errorf("scopes_supported = %v, missing %s", scopes, want)
		}
	}
	if !strings.HasPrefix(iss, "http://127.0.0.1:") {
		t.Errorf("issuer %s is not on 127.0.0.1", iss)
	}
	if iss != srv.URL {
		t.Errorf("Issuer = %s, want URL %s", iss, srv.URL)
	}
}

func TestMetadataMatchesDiscovery(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	doc := get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration").json(t)
	if got, want := jsonString(doc), jsonString(srv.Metadata()); got != want {
		t.Errorf("discovery document\n%s\nMetadata\n%s", got, want)
	}
}

func TestDiscoveryLocations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		issuerPath string
		// paths below srv.URL that serve the document, and that do not
		found, notFound []string
	}{
		{
			name:     "issuer without path",
			found:    []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"},
			notFound: []string{"/.well-known/openid-configuration/x"},
		},
		{
			// RFC 8414 §3.1 inserts the well-known segment before the
			// issuer's path; OpenID Connect Discovery appends it.
			name:       "issuer with path",
			issuerPath: "/tenant-a",
			found:      []string{"/tenant-a/.well-known/openid-configuration", "/.well-known/oauth-authorization-server/tenant-a"},
			notFound:   []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/tenant-a/.well-known/oauth-authorization-server"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{IssuerPath: tt.issuerPath})
			if want := srv.URL + tt.issuerPath; srv.Issuer != want {
				t.Fatalf("Issuer = %s, want %s", srv.Issuer, want)
			}
			for _, p := range tt.found {
				res := get(t, srv.Client(), srv.URL+p)
				if res.status != http.StatusOK {
					t.Errorf("GET %s: status %d, want 200", p, res.status)
					continue
				}
				if iss := res.json(t)["issuer"]; iss != srv.Issuer {
					t.Errorf("GET %s: issuer = %v, want %s", p, iss, srv.Issuer)
				}
			}
			for _, p := range tt.notFound {
				if res := get(t, srv.Client(), srv.URL+p); res.status != http.StatusNotFound {
					t.Errorf("GET %s: status %d, want 404", p, res.status)
				}
			}
		})
	}
}

// TestDiscoveryEndpointsAnswer checks that every URL in the document is
// served, with and without an issuer path.
func TestDiscoveryEndpointsAnswer(t *testing.T) {
	t.Parallel()
	for _, issuerPath := range []string{"", "/tenant-a"} {
		t.Run("path="+issuerPath, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{IssuerPath: issuerPath})
			doc := srv.Metadata()
			for _, field := range []string{
				"authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
				"end_session_endpoint", "revocation_endpoint", "introspection_endpoint",
				"pushed_authorization_request_endpoint", "device_authorization_endpoint",
			} {
				u := doc[field].(string)
				if !strings.HasPrefix(u, srv.Issuer+"/") {
					t.Errorf("%s = %s, not below the issuer %s", field, u, srv.Issuer)
				}
				if res := get(t, srv.Client(), u); res.status == http.StatusNotFound {
					t.Errorf("%s %s: 404", field, u)
				}
			}
		})
	}
}

func TestDiscoveryRequirePAR(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{RequirePAR: true})
	doc := get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration").json(t)
	if doc["require_pushed_authorization_requests"] != true {
		t.Errorf("require_pushed_authorization_requests = %v, want true", doc["require_pushed_authorization_requests"])
	}
}

func TestDiscoverySigningAlgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg  string
		want []string
	}{
		{"", []string{"RS256", "ES256", "EdDSA"}},
		{oidctest.ES256, []string{"RS256", "ES256", "EdDSA"}},
		{oidctest.EdDSA, []string{"RS256", "ES256", "EdDSA"}},
		{oidctest.HS256, []string{"RS256", "ES256", "EdDSA", "HS256"}},
	}
	for _, tt := range tests {
		t.Run("alg="+tt.alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{SigningAlg: tt.alg})
			doc := get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration").json(t)
			if got := stringList(t, doc["id_token_signing_alg_values_supported"]); !slices.Equal(got, tt.want) {
				t.Errorf("id_token_signing_alg_values_supported = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewServerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  oidctest.Config
		want string
	}{
		{"unknown SigningAlg", oidctest.Config{SigningAlg: "PS512"}, `unsupported SigningAlg "PS512"`},
		{"SigningAlg none", oidctest.Config{SigningAlg: oidctest.None}, `unsupported SigningAlg "none"`},
		{"IssuerPath without slash", oidctest.Config{IssuerPath: "tenant"}, `IssuerPath "tenant" must start with /`},
		{"bad client", oidctest.Config{Clients: []oidctest.Client{{Secret: "x"}}}, "client needs an ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				r := recover()
				err, ok := r.(error)
				if !ok || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("NewServer panicked with %v, want an error containing %q", r, tt.want)
				}
			}()
			srv := oidctest.NewServer(tt.cfg)
			srv.Close()
		})
	}
}

func TestAddClientValidates(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	tests := []struct {
		name   string
		client oidctest.Client
		want   string // "" for success
	}{
		{"no ID", oidctest.Client{Secret: "x"}, "client needs an ID"},
		{"basic without secret", oidctest.Client{ID: "c", AuthMethod: "client_secret_basic"}, "client_secret_basic needs a Secret"},
		{"post without secret", oidctest.Client{ID: "c", AuthMethod: "client_secret_post"}, "client_secret_post needs a Secret"},
		{"private_key_jwt without keys", oidctest.Client{ID: "c", AuthMethod: "private_key_jwt"}, "private_key_jwt needs JWKS"},
		{"unknown method", oidctest.Client{ID: "c", Secret: "x", AuthMethod: "tls_client_auth"}, `unsupported auth method "tls_client_auth"`},
		{"secret means basic", oidctest.Client{ID: "c", Secret: "x"}, ""},
		{"no secret means none", oidctest.Client{ID: "c"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := srv.AddClient(tt.client)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("AddClient: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("AddClient: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}
