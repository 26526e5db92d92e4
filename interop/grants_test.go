package interop

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/client"
)

// These tests run Keyway's OAuth client (package client) against
// oidc-provider: discovery, the client-credentials grant with a resource
// indicator, and the *http.Client that carries its tokens to examples/api;
// then examples/service, which does the same as a program, with bearer and
// with DPoP-bound tokens.

const (
	wellKnownAS   = "/.well-known/oauth-authorization-server"
	wellKnownOIDC = "/.well-known/openid-configuration"
)

func TestDiscover(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)

	for _, tt := range []struct {
		name      string
		notFound  []string
		wantPaths []string
	}{
		// oidc-provider serves RFC 8414 metadata: Discover takes it.
		{"RFC 8414", nil, []string{wellKnownAS}},
		// A server without it: Discover falls back to OpenID discovery.
		{"OpenID fallback", []string{wellKnownAS}, []string{wellKnownAS, wellKnownOIDC}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			rec := &recorder{NotFound: tt.notFound}
			md, err := client.Discover(ctx, p.Issuer, rec.client())
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.paths(); !slices.Equal(got, tt.wantPaths) {
				t.Errorf("requested %q, want %q", got, tt.wantPaths)
			}
			ep := md.Endpoint()
			want := client.Endpoint{
				Issuer:                p.Issuer,
				AuthURL:               d.AuthorizationEndpoint,
				TokenURL:              d.TokenEndpoint,
				PARURL:                d.PushedAuthorizationRequestEndpoint,
				RevocationURL:         d.RevocationEndpoint,
				DeviceAuthURL:         d.DeviceAuthorizationEndpoint,
				IssParameterSupported: true,
			}
			if ep != want {
				t.Errorf("Endpoint() = %+v, want %+v", ep, want)
			}
			if md.IntrospectionEndpoint != d.IntrospectionEndpoint || !slices.Contains(md.DPoPSigningAlgValuesSupported, "ES256") {
				t.Errorf("introspection_endpoint %q, dpop_signing_alg_values_supported %q; want %q and ES256",
					md.IntrospectionEndpoint, md.DPoPSigningAlgValuesSupported, d.IntrospectionEndpoint)
			}
		})
	}

	t.Run("another issuer name", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		// The same server under another name: its metadata names
		// 127.0.0.1, so the document is refused (mix-up defence).
		alias := strings.Replace(p.Issuer, "127.0.0.1", "localhost", 1)
		if _, err := client.Discover(ctx, alias, nil); !errors.Is(err, client.ErrIssuerMismatch) {
			t.Errorf("Discover(%q) = %v, want ErrIssuerMismatch", alias, err)
		}
	})
}

func TestClientCredentialsSource(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	api := newExampleAPI(t)
	api.start(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	c := newClient(t, p, client.Config{ClientID: "service", ClientSecret: "service-secret"})
	src := c.ClientCredentialsSource(client.RefreshWith(client.Resource(api.Audience), client.Scopes("api:read")))
	tok, err := src.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Type() != "Bearer" {
		t.Errorf("token_type %q, want Bearer", tok.Type())
	}
	header, claims := decodeJWT(t, tok.AccessToken)
	if header["typ"] != "at+jwt" || claims["aud"] != api.Audience || claims["client_id"] != "service" ||
		claims["sub"] != "service" || claims["scope"] != "api:read" || claims["cnf"] != nil {
		t.Errorf("access token %v %v; want at+jwt for %q, client_id and sub service, scope api:read, no cnf", header, claims, api.Audience)
	}
	again, err := src.Token(ctx)
	if err != nil || again.AccessToken != tok.AccessToken {
		t.Errorf("second Token: a new token or %v; want the cached one", err)
	}

	hc := c.HTTPClientFor(src)
	status, me, _ := callMe(t, hc, api.URL+"/me")
	want := apiMe{Sub: "service", ClientID: "service", Scope: []string{"api:read"}}
	if status != http.StatusOK || me.Sub != want.Sub || me.ClientID != want.ClientID || !slices.Equal(me.Scope, want.Scope) {
		t.Errorf("GET /me through HTTPClientFor: %d %+v, want 200 %+v", status, me, want)
	}
}

// TestServiceExample runs examples/service against examples/api through a
// proxy that records what the service sends.
func TestServiceExample(t *testing.T) {
	t.Parallel()
	callRE := regexp.MustCompile(`^call ([0-9]+): 200 (\{.*\})$`)
	for _, tt := range []struct {
		name   string
		dpop   string
		scheme string
	}{
		{"bearer", "false", "Bearer"},
		{"dpop", "true", "DPoP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := startProvider(t, providerOptions{})
			api := newExampleAPI(t)
			api.start(t, p)
			proxyURL, rec := startRecordingProxy(t, api.URL)

			prog := startProgram(t, "examples/service", exampleBinary(t, &serviceBuild, "service"), nil, map[string]string{
				"OIDC_ISSUER":        p.Issuer,
				"OIDC_CLIENT_ID":     "service",
				"OIDC_CLIENT_SECRET": "service-secret",
				"API_URL":            proxyURL,
				"OIDC_RESOURCE":      api.Audience,
				"OIDC_SCOPES":        "api:read",
				"CALLS":              "3",
				"CALL_INTERVAL":      "0s",
				"DPOP":               tt.dpop,
			})
			if err := prog.wait(t, 30*time.Second); err != nil {
				t.Fatalf("examples/service exited with %v", err)
			}
			lines := prog.lines()
			if len(lines) != 3 {
				t.Fatalf("stdout has %d lines, want 3: %q", len(lines), lines)
			}
			for i, line := range lines {
				m := callRE.FindStringSubmatch(line)
				var me apiMe
				if m == nil || m[1] != strconv.Itoa(i+1) || json.Unmarshal([]byte(m[2]), &me) != nil ||
					me.ClientID != "service" || me.Sub != "service" {
					t.Errorf("line %d = %q, want \"call %d: 200\" and the API's answer for client service", i+1, line, i+1)
				}
			}

			seen := rec.exchanges()
			if len(seen) != 3 {
				t.Fatalf("the API got %d requests, want 3", len(seen))
			}
			proofs := map[string]bool{}
			for _, e := range seen {
				scheme, token, _ := strings.Cut(e.Header.Get("Authorization"), " ")
				if e.Method != http.MethodGet || e.Path != "/me" || scheme != tt.scheme {
					t.Errorf("request %s %s with scheme %q, want GET /me with %s", e.Method, e.Path, scheme, tt.scheme)
					continue
				}
				_, claims := decodeJWT(t, token)
				jkt := cnfJKT(claims)
				proof := e.Header.Get("DPoP")
				if tt.scheme == "Bearer" {
					if proof != "" || jkt != "" {
						t.Errorf("bearer call: DPoP header %q, cnf.jkt %q; want neither", proof, jkt)
					}
					continue
				}
				if proof == "" || proofs[proof] {
					t.Errorf("DPoP call: proof %q missing or reused", proof)
				}
				proofs[proof] = true
				if got := proofThumbprint(t, proof); got != jkt || jkt == "" {
					t.Errorf("token cnf.jkt %q, proof key thumbprint %q; want equal", jkt, got)
				}
			}
		})
	}
}

// newClient returns a Keyway client of p for cfg, with the Endpoint that
// client.Discover finds.
func newClient(t testing.TB, p *provider, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	md, err := client.Discover(ctx, p.Issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint = md.Endpoint()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// callMe GETs target with hc and returns the status, the JSON of the API's
// /me (zero unless 200) and the response's header.
func callMe(t testing.TB, hc *http.Client, target string) (int, apiMe, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("interop: GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodySize))
	if err != nil {
		t.Fatalf("interop: GET %s: %v", target, err)
	}
	var me apiMe
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &me); err != nil {
			t.Fatalf("interop: GET %s: %v: %s", target, err, snippet(body))
		}
	}
	return resp.StatusCode, me, resp.Header
}

// cnfJKT returns the cnf.jkt claim of decoded JWT claims, "" without one.
func cnfJKT(claims map[string]any) string {
	cnf, _ := claims["cnf"].(map[string]any)
	jkt, _ := cnf["jkt"].(string)
	return jkt
}

// proofThumbprint returns the RFC 7638 thumbprint of the jwk in a DPoP
// proof's header.
func proofThumbprint(t testing.TB, proof string) string {
	t.Helper()
	header, _ := decodeJWT(t, proof)
	raw, err := json.Marshal(header["jwk"])
	if err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		t.Fatalf("DPoP proof jwk %s: %v", raw, err)
	}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}
