package middleware

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"
)

const defaultAlgs = `algs="ES256 RS256 PS256 EdDSA"`

// failingCache is a ReplayCache that fails.
type failingCache struct{}

func (failingCache) Seen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("redis: connection refused")
}

// TestDPoPChallenges: the exact WWW-Authenticate values, in order, the
// status and the JSON error of each kind of refusal, for Bearer and DPoP
// requests.
func TestDPoPChallenges(t *testing.T) {
	t.Parallel()
	type response struct {
		status     int
		challenges []string // nil: no WWW-Authenticate
		code       string
	}
	tests := []struct {
		name string
		edit func(*Config)
		req  func(t testing.TB, f *fixture, c *dpopClient) *http.Request
		want response
	}{
		{"Bearer, no token", nil, func(testing.TB, *fixture, *dpopClient) *http.Request {
			return request("/", "")
		}, response{401, []string{"Bearer", "DPoP " + defaultAlgs}, "unauthorized"}},
		{"Bearer, expired", nil, func(t testing.TB, f *fixture, _ *dpopClient) *http.Request {
			return request("/", f.token(t, func(c map[string]any) { c["exp"] = f.clock.Now().Add(-time.Hour).Unix() }))
		}, response{401, []string{`Bearer error="invalid_token", error_description="the access token expired"`, "DPoP " + defaultAlgs}, "invalid_token"}},
		{"Bearer, bound token", nil, func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			return request("/", f.boundToken(t, c.jkt))
		}, response{401, []string{
			`Bearer error="invalid_token", error_description="the access token is sender-constrained and cannot be used as a bearer token"`,
			"DPoP " + defaultAlgs,
		}, "invalid_token"}},
		{"Bearer, two Authorization headers", nil, func(t testing.TB, f *fixture, _ *dpopClient) *http.Request {
			r := request("/", "a")
			r.Header.Add("Authorization", "DPoP b")
			return r
		}, response{400, []string{`Bearer error="invalid_request", error_description="more than one Authorization header"`, "DPoP " + defaultAlgs}, "invalid_request"}},
		{"DPoP, no proof", nil, func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			return dpopRequest(http.MethodGet, dpopTarget, f.boundToken(t, c.jkt), "")
		}, response{401, []string{"Bearer", `DPoP error="invalid_dpop_proof", error_description="a DPoP proof is required", ` + defaultAlgs}, "invalid_dpop_proof"}},
		{"DPoP, two proofs", nil, func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			r := dpopRequest(http.MethodGet, dpopTarget, f.boundToken(t, c.jkt), "a")
			r.Header.Add("DPoP", "b")
			return r
		}, response{401, []string{"Bearer", `DPoP error="invalid_dpop_proof", error_description="more than one DPoP header", ` + defaultAlgs}, "invalid_dpop_proof"}},
		{"DPoP, bad proof", nil, withProof(set("htm", "POST")),
			response{401, []string{"Bearer", `DPoP error="invalid_dpop_proof", error_description="the DPoP proof is invalid", ` + defaultAlgs}, "invalid_dpop_proof"}},
		{"DPoP, expired token", nil, withToken(func(t testing.TB, f *fixture, c *dpopClient) string {
			return f.token(t, func(m map[string]any) {
				m["cnf"] = map[string]any{"jkt": c.jkt}
				m["exp"] = f.clock.Now().Add(-time.Hour).Unix()
			})
		}), response{401, []string{"Bearer", `DPoP error="invalid_token", error_description="the access token expired", ` + defaultAlgs}, "invalid_token"}},
		{"DPoP, token not bound", nil, withToken(func(t testing.TB, f *fixture, _ *dpopClient) string { return f.token(t, nil) }),
			response{401, []string{"Bearer", `DPoP error="invalid_token", error_description="the access token is not bound to the key of the DPoP proof", ` + defaultAlgs}, "invalid_token"}},
		{"DPoP, empty credential", nil, func(t testing.TB, f *fixture, c *dpopClient) *http.Request {
			return dpopRequest(http.MethodGet, dpopTarget, "", "x")
		}, response{400, []string{"Bearer", `DPoP error="invalid_request", error_description="the request is malformed", ` + defaultAlgs}, "invalid_request"}},
		{"DPoP, replay cache down", func(c *Config) { c.DPoP.ReplayCache = failingCache{} }, withProof(nil),
			response{503, nil, "temporarily_unavailable"}},
		{"algorithms configured", func(c *Config) { c.DPoP.Algorithms = []string{"EdDSA", "ES256", "EdDSA"} }, func(testing.TB, *fixture, *dpopClient) *http.Request {
			return request("/", "")
		}, response{401, []string{"Bearer", `DPoP algs="EdDSA ES256"`}, "unauthorized"}},
		{"resource metadata", func(c *Config) { c.ResourceMetadata = &ResourceMetadata{Resource: "https://api.example.com"} }, withProof(set("htm", "PUT")),
			response{401, []string{
				`Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`,
				`DPoP error="invalid_dpop_proof", error_description="the DPoP proof is invalid", ` + defaultAlgs +
					`, resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`,
			}, "invalid_dpop_proof"}},
		{"Required, no token", func(c *Config) { c.DPoP.Required = true }, func(testing.TB, *fixture, *dpopClient) *http.Request {
			return request("/", "")
		}, response{401, []string{"DPoP " + defaultAlgs}, "unauthorized"}},
		{"Required, Bearer token", func(c *Config) { c.DPoP.Required = true }, func(t testing.TB, f *fixture, _ *dpopClient) *http.Request {
			return request("/", f.token(t, nil))
		}, response{401, []string{`DPoP error="invalid_token", error_description="the access token must be presented with the DPoP scheme", ` + defaultAlgs}, "invalid_token"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.edit)
			c := newDPoPClient(t, "ES256")
			w := serve(f.v.Handler(whoami), tc.req(t, f, c))
			if w.Code != tc.want.status {
				t.Fatalf("status %d, want %d (body %s)", w.Code, tc.want.status, w.Body)
			}
			if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, tc.want.challenges) {
				t.Errorf("WWW-Authenticate\n%q\nwant\n%q", got, tc.want.challenges)
			}
			if code, _ := errorBody(t, w); code != tc.want.code {
				t.Errorf("error %q, want %q", code, tc.want.code)
			}
			if n := w.Header().Get("DPoP-Nonce"); n != "" {
				t.Errorf("DPoP-Nonce %q without nonces", n)
			}
		})
	}
}

// TestDPoPScopeChallenge: RequireScope's 403 to a DPoP request puts
// insufficient_scope into the DPoP challenge.
func TestDPoPScopeChallenge(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := newDPoPClient(t, "ES256")
	h := f.v.RequireScope("admin")(whoami)
	w := serve(h, withProof(nil)(t, f, c))
	want := []string{"Bearer", `DPoP error="insufficient_scope", scope="admin", error_description="the access token does not grant access to this resource", ` + defaultAlgs}
	if got := w.Header().Values("WWW-Authenticate"); w.Code != http.StatusForbidden || !slices.Equal(got, want) {
		t.Errorf("%d %q", w.Code, got)
	}
	tok := f.boundToken(t, c.jkt)
	r := dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))
	if w := serve(f.v.RequireScope("read")(whoami), r); w.Code != http.StatusOK || w.Body.String() != "ada" {
		t.Errorf("scope read: %d %s", w.Code, w.Body)
	}
}

// TestDPoPHandlerServes: an accepted DPoP request reaches the handler
// with its claims.
func TestDPoPHandlerServes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	c := newDPoPClient(t, "EdDSA")
	var jkt string
	h := f.v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := ClaimsFrom(r.Context())
		jkt = claims.DPoPThumbprint()
	}))
	if w := serve(h, withProof(nil)(t, f, c)); w.Code != http.StatusOK || jkt != c.jkt {
		t.Errorf("%d, thumbprint %q, want %q", w.Code, jkt, c.jkt)
	}
}

func TestDPoPThumbprintClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cnf, want string
	}{
		{"jkt", `{"jkt":"abc"}`, "abc"},
		{"jkt and x5t", `{"x5t#S256":"x","jkt":"abc"}`, "abc"},
		{"JKT is not jkt", `{"JKT":"abc"}`, ""},
		{"jkt not a string", `{"jkt":5}`, ""},
		{"cnf not an object", `"abc"`, ""},
		{"no cnf", "", ""},
	}
	for _, tc := range tests {
		claims := `{"iss":"https://id.example.com","exp":4102444800`
		if tc.cnf != "" {
			claims += `,"cnf":` + tc.cnf
		}
		c, err := parseClaims(base64.RawURLEncoding.EncodeToString([]byte(claims + "}")))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.DPoPThumbprint(); got != tc.want {
			t.Errorf("%s: DPoPThumbprint %q, want %q", tc.name, got, tc.want)
		}
	}
}
