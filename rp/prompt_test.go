package rp_test

import (
	"testing"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// TestPrompt: offline_access asks for consent (OpenID Connect Core §11),
// unless the app says otherwise.
func TestPrompt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scopes []string
		prompt []string
		want   string
	}{
		{"offline_access asks for consent", []string{"openid", "offline_access"}, nil, "consent"},
		{"no offline_access, no prompt", []string{"openid", "profile"}, nil, ""},
		{"explicit empty prompt", []string{"openid", "offline_access"}, []string{}, ""},
		{"explicit prompt", []string{"openid"}, []string{"login", "consent"}, "login consent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) {
				c.Scopes = tt.scopes
				c.Prompt = tt.prompt
			})
			a.login(t, a.browser, "/")
			reqs := a.op.Requests(oidctest.EndpointAuthorize)
			if len(reqs) != 1 {
				t.Fatalf("%d authorization requests, want 1", len(reqs))
			}
			if got := reqs[0].Form.Get("prompt"); got != tt.want {
				t.Errorf("prompt = %q, want %q", got, tt.want)
			}
		})
	}
}
