package middleware

import (
	"net/http"
	"strings"
	"testing"
)

func TestRequireScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	admin := f.v.RequireScope("admin")(whoami)
	both := f.v.RequireScope("read", "admin")(whoami)
	readOnly := f.token(t, nil) // scope "read write"
	adminTok := f.token(t, func(c map[string]any) { c["scope"] = "read admin" })

	tests := []struct {
		name      string
		h         http.Handler
		token     string
		status    int
		challenge string
	}{
		{"no token", admin, "", http.StatusUnauthorized, "Bearer"},
		{"bad token", admin, "x.y.z", http.StatusUnauthorized, `Bearer error="invalid_token", error_description="the access token is malformed"`},
		{"scope missing", admin, readOnly, http.StatusForbidden, `Bearer error="insufficient_scope", scope="admin", error_description="the access token does not grant access to this resource"`},
		{"scope present", admin, adminTok, http.StatusOK, ""},
		{"one of two scopes", both, readOnly, http.StatusForbidden, `Bearer error="insufficient_scope", scope="read admin", error_description="the access token does not grant access to this resource"`},
		{"two scopes", both, adminTok, http.StatusOK, ""},
		{"behind Handler", f.v.Handler(admin), readOnly, http.StatusForbidden, `Bearer error="insufficient_scope", scope="admin", error_description="the access token does not grant access to this resource"`},
		{"behind Handler, granted", f.v.Handler(admin), adminTok, http.StatusOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second time the token comes from the cache,
			// and the scope is checked all the same.
			for range 2 {
				w := serve(tc.h, request("/", tc.token))
				if w.Code != tc.status || w.Header().Get("WWW-Authenticate") != tc.challenge {
					t.Fatalf("%d %q, want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), tc.status, tc.challenge)
				}
				if tc.status == http.StatusOK && w.Body.String() != "ada" {
					t.Errorf("claims not in the context: %q", w.Body)
				}
				if tc.status == http.StatusForbidden {
					if code, _ := errorBody(t, w); code != "insufficient_scope" {
						t.Errorf("error %q", code)
					}
				}
			}
		})
	}
	if f.n.hits.Load() == 0 {
		t.Error("no request was answered from the cache")
	}
}

// TestRequireScopeVerifiesOnce: behind Handler, RequireScope uses the
// claims in the context instead of verifying again.
func TestRequireScopeVerifiesOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	h := f.v.Handler(f.v.RequireScope("read")(f.v.RequireClaims(func(*Claims) bool { return true })(whoami)))
	if w := serve(h, request("/", f.token(t, nil))); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	if n := f.n.verified.Load(); n != 1 {
		t.Errorf("%d verifications for one request", n)
	}
}

func TestRequireClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) {
		c.ResourceMetadata = &ResourceMetadata{Resource: "https://api.example.com"}
	})
	adaOnly := f.v.RequireClaims(func(c *Claims) bool {
		org, _ := c.Get("org")
		return c.Subject() == "ada" && org == "acme"
	})(whoami)
	ok := f.token(t, func(c map[string]any) { c["org"] = "acme" })
	other := f.token(t, func(c map[string]any) { c["org"] = "evil" })
	if w := serve(adaOnly, request("/", ok)); w.Code != http.StatusOK {
		t.Errorf("allowed: %d", w.Code)
	}
	w := serve(adaOnly, request("/", other))
	want := `Bearer error="insufficient_scope", error_description="the access token does not grant access to this resource", ` +
		`resource_metadata="https://api.example.com/.well-known/oauth-protected-resource"`
	if w.Code != http.StatusForbidden || w.Header().Get("WWW-Authenticate") != want {
		t.Errorf("refused: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w := serve(adaOnly, request("/", "")); w.Code != http.StatusUnauthorized ||
		!strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer resource_metadata="https://`) {
		t.Errorf("no token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}
