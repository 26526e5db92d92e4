package rp_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// TestConformanceConfig runs the Config RP plan: discovery and the
// provider's keys.
func TestConformanceConfig(t *testing.T) {
	t.Parallel()
	runPlan(t, configPlan(), false)
}

// configPlan is the Config RP plan.
func configPlan() []conformanceCase {
	return []conformanceCase{
		{name: "rp-discovery-openid-configuration", op: oidctest.Config{IssuerPath: "/tenant-a"}, run: discoveryOpenIDConfiguration},
		{name: "rp-discovery-jwks_uri-keys", run: discoveryJWKSURIKeys},
		{name: "rp-discovery-issuer-not-matching-config", run: discoveryIssuerMismatch},
		{name: "rp-id_token-sig-none", faults: withHeader(func(h map[string]any) { h["alg"] = "none"; delete(h, "kid") }),
			stage: refuseIDToken, want: rp.ErrInvalidSignature},
		{name: "rp-key-rotation-op-sign-key", run: keyRotation(false)},
		{name: "rp-key-rotation-op-sign-key-native", run: keyRotation(true)},
	}
}

// discoveryOpenIDConfiguration: the RP reads the provider's configuration
// once, at issuer + /.well-known/openid-configuration (an issuer with a
// path here), and then calls only the endpoints it names.
func discoveryOpenIDConfiguration(t *testing.T, c conformanceCase, formPost bool) {
	a, _ := c.newApp(t, formPost)
	d := one(t, a.op.Requests(), oidctest.EndpointDiscovery)
	if d.Method != http.MethodGet || d.URL.Path != "/tenant-a/.well-known/openid-configuration" {
		t.Fatalf("discovery request: %s %s", d.Method, d.URL.Path)
	}
	a.op.ResetRequests()
	b := newBrowser(t)
	authURL := a.startLogin(t, b, "/")
	if endpoint := a.op.Metadata()["authorization_endpoint"].(string); !strings.HasPrefix(authURL, endpoint+"?") {
		t.Fatalf("login redirected to %s, want the authorization_endpoint %s", authURL, endpoint)
	}
	if r := get(t, b.noFollow, a.authorize(t, b, authURL)); r.status != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", r.status, r.body)
	}
	a.whoami(t, b)
	for _, r := range a.op.Requests() {
		if r.Endpoint == "" || r.Endpoint == oidctest.EndpointDiscovery {
			t.Fatalf("the RP requested %s %s", r.Method, r.URL)
		}
	}
	for _, e := range []string{oidctest.EndpointJWKS, oidctest.EndpointToken, oidctest.EndpointUserinfo} {
		one(t, a.op.Requests(), e)
	}
}

// discoveryJWKSURIKeys: the keys come from the jwks_uri of the discovery
// document, here on another server and path than the provider's own.
func discoveryJWKSURIKeys(t *testing.T, c conformanceCase, formPost bool) {
	var op atomic.Pointer[oidctest.Server]
	var fetched atomic.Int32
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys/set.json" || op.Load() == nil {
			http.NotFound(w, r)
			return
		}
		fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(op.Load().JWKS())
	}))
	t.Cleanup(keys.Close)
	c.discovery = func(d map[string]any) { d["jwks_uri"] = keys.URL + "/keys/set.json" }
	a, _ := c.newApp(t, formPost)
	op.Store(a.op)
	b := newBrowser(t)
	a.loginWith(t, b, formPost)
	a.whoami(t, b)
	if n := fetched.Load(); n != 1 {
		t.Fatalf("fetches of the jwks_uri = %d, want 1", n)
	}
	if n := len(a.op.Requests(oidctest.EndpointJWKS)); n != 0 {
		t.Fatalf("the RP fetched the provider's own /jwks %d times, not the jwks_uri", n)
	}
}

// discoveryIssuerMismatch: a discovery document naming another issuer
// stops the RP at start (Discovery §4.3), before it asks anything else.
func discoveryIssuerMismatch(t *testing.T, c conformanceCase, _ bool) {
	op := newProvider(t, c.op, oidctest.Faults{Discovery: func(d map[string]any) {
		d["issuer"] = "https://evil.example"
	}})
	cfg := baseConfig(t, op.Issuer)
	if c.edit != nil {
		c.edit(&cfg)
	}
	if _, err := rp.New(context.Background(), cfg); !errors.Is(err, rp.ErrIssuerMismatch) {
		t.Fatalf("New: %v, want ErrIssuerMismatch", err)
	}
	if reqs := op.Requests(); len(reqs) != 1 || reqs[0].Endpoint != oidctest.EndpointDiscovery {
		t.Fatalf("the provider received %d requests, want the discovery request only", len(reqs))
	}
}

// keyRotation: the provider replaces its signing keys (the old ones leave
// the JWKS) between two logins, or with native between issuing a code and
// signing the ID token it is redeemed for. The RP, which had the old keys,
// fetches the JWKS again for the new kid and accepts the login.
func keyRotation(native bool) func(*testing.T, conformanceCase, bool) {
	return func(t *testing.T, c conformanceCase, formPost bool) {
		a, clk := c.newApp(t, formPost)
		spy := &tokenSpy{}
		a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record})
		a.loginWith(t, newBrowser(t), formPost)
		if n := len(a.op.Requests(oidctest.EndpointJWKS)); n != 1 {
			t.Fatalf("JWKS fetches after the first login = %d, want 1", n)
		}
		rotate := func() {
			if err := a.op.RotateKeys(); err != nil {
				t.Fatal(err)
			}
			a.op.RetireKeys()
		}
		clk.Advance(11 * time.Second) // past the RP's JWKS refetch limit
		b := newBrowser(t)
		if native {
			deliver := a.respond(t, b, formPost)
			rotate()
			if r := deliver(); r.status != http.StatusSeeOther {
				t.Fatalf("callback after the rotation: %d %s", r.status, r.body)
			}
		} else {
			rotate()
			a.loginWith(t, b, formPost)
		}
		a.whoami(t, b)
		if h := jwtHeader(t, spy.last(t, "id_token")); !strings.Contains(h, `"kid":"rs256-2"`) {
			t.Fatalf("the second ID token is not signed with the new key: %s", h)
		}
		if n := len(a.op.Requests(oidctest.EndpointJWKS)); n != 2 {
			t.Fatalf("JWKS fetches = %d, want 2", n)
		}
	}
}
