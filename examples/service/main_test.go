package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/keyway-go/keyway/examples/internal/api"
	"github.com/keyway-go/keyway/oidctest"
)

// setup runs a provider with client svc and the example API for resource.
func setup(t *testing.T, resource string) (p *oidctest.Server, apiURL string) {
	t.Helper()
	p = oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{ID: "svc", Secret: "s3cret"}}})
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

func TestCallsTheAPI(t *testing.T) {
	t.Parallel()
	const resource = "https://api.example.com"
	for _, dpop := range []string{"", "true"} {
		t.Run("dpop="+dpop, func(t *testing.T) {
			t.Parallel()
			p, apiURL := setup(t, resource)
			var out bytes.Buffer
			err := run(t.Context(), env(map[string]string{
				"OIDC_ISSUER": p.Issuer, "OIDC_CLIENT_ID": "svc", "OIDC_CLIENT_SECRET": "s3cret",
				"API_URL": apiURL, "OIDC_RESOURCE": resource, "CALLS": "3", "CALL_INTERVAL": "0s",
				"DPOP": dpop,
			}), &out, io.Discard)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			ok := regexp.MustCompile(`^call [123]: 200 \{"client_id":"svc","scope":\[\],"sub":"svc"\}$`)
			if len(lines) != 3 {
				t.Fatalf("output:\n%s\nwant 3 lines", out.String())
			}
			for _, l := range lines {
				if !ok.MatchString(l) {
					t.Errorf("line %q does not match %s", l, ok)
				}
			}
			// One token served all three calls.
			if n := len(p.Requests(oidctest.EndpointToken)); n != 1 {
				t.Errorf("%d token requests, want 1", n)
			}
			bound := strings.Contains(p.Requests(oidctest.EndpointToken)[0].Header.Get("DPoP"), ".")
			if bound != (dpop == "true") {
				t.Errorf("token request carried a DPoP proof: %v, want %v", bound, dpop == "true")
			}
		})
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	p, apiURL := setup(t, "https://api.example.com")
	base := map[string]string{
		"OIDC_ISSUER": p.Issuer, "OIDC_CLIENT_ID": "svc", "OIDC_CLIENT_SECRET": "s3cret",
		"API_URL": apiURL, "CALLS": "2", "CALL_INTERVAL": "0s",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		err  string
		out  string
	}{
		{"token for another audience", with("OIDC_RESOURCE", "https://other.example.com"), "2 of 2 calls failed", "call 1: 401"},
		{"wrong secret", with("OIDC_CLIENT_SECRET", "nope"), "2 of 2 calls failed", "invalid_client"},
		{"missing settings", map[string]string{}, "OIDC_ISSUER is required", ""},
		{"bad CALLS", with("CALLS", "0"), "CALLS=", ""},
		{"bad DPOP", with("DPOP", "yes"), "DPOP=", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), env(tc.env), &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.err)
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("output:\n%s\nwant it to contain %q", out.String(), tc.out)
			}
		})
	}
}
