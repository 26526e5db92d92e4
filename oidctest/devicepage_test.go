package oidctest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// submitDevice posts the device page form.
func submitDevice(t testing.TB, srv *oidctest.Server, userCode, username, password, action string) response {
	t.Helper()
	return post(t, srv, "/device", nil, url.Values{
		"user_code": {userCode}, "username": {username}, "password": {password}, "action": {action},
	})
}

func TestDevicePageForm(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	da := startDevice(t, srv, spaAuth, "openid")
	res := get(t, srv.Client(), da.VerificationURIComplete)
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, Content-Type %q", res.status, res.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`name="user_code" value="` + da.UserCode + `"`, `name="username"`, `name="password"`,
		`value="approve"`, `value="deny"`, `action="` + srv.Issuer + `/device"`,
	} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("form lacks %s:\n%s", want, res.body)
		}
	}
	res = get(t, srv.Client(), srv.Issuer+"/device?user_code="+url.QueryEscape(`"><script>x</script>`))
	if strings.Contains(string(res.body), "<script>") {
		t.Errorf("user_code is not escaped:\n%s", res.body)
	}
	if res := post(t, srv, "/device", nil, nil); res.status != http.StatusBadRequest {
		t.Errorf("empty POST: status %d, want 400", res.status)
	}
	req, _ := http.NewRequest(http.MethodPut, srv.Issuer+"/device", nil)
	if res, err := do(srv.Client(), req); err != nil || res.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %v, status %d, want 405", err, res.status)
	}
}

func TestDevicePageDecisions(t *testing.T) {
	t.Parallel()
	grace := oidctest.User{Subject: "grace", Username: "grace", Password: "hopper"}
	tests := []struct {
		name     string
		userCode func(da deviceAuth) string
		username string
		password string
		action   string
		status   int
		poll     string // the device's next poll: "" for tokens, else the error
	}{
		{"approve", func(da deviceAuth) string { return da.UserCode }, "grace", "hopper", "approve", http.StatusOK, ""},
		{"approve, code typed loosely", func(da deviceAuth) string { return strings.ToLower(da.UserCode) }, "grace", "hopper", "approve", http.StatusOK, ""},
		{"deny", func(da deviceAuth) string { return da.UserCode }, "grace", "hopper", "deny", http.StatusOK, "access_denied"},
		{"wrong password", func(da deviceAuth) string { return da.UserCode }, "grace", "nope", "approve", http.StatusBadRequest, "authorization_pending"},
		{"unknown user", func(da deviceAuth) string { return da.UserCode }, "nobody", "hopper", "approve", http.StatusBadRequest, "authorization_pending"},
		{"unknown code", func(deviceAuth) string { return "BBBB-BBBB" }, "grace", "hopper", "approve", http.StatusBadRequest, "authorization_pending"},
		{"no action", func(da deviceAuth) string { return da.UserCode }, "grace", "hopper", "", http.StatusBadRequest, "authorization_pending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{Users: []oidctest.User{oidctest.DemoUser, grace}})
			da := startDevice(t, srv, spaAuth, "openid")
			res := submitDevice(t, srv, tt.userCode(da), tt.username, tt.password, tt.action)
			if res.status != tt.status {
				t.Errorf("status %d, want %d:\n%s", res.status, tt.status, res.body)
			}
			got := poll(t, srv, spaAuth, da.DeviceCode)
			if tt.poll != "" {
				wantOAuthError(t, got, http.StatusBadRequest, tt.poll)
				return
			}
			wantClaims(t, verifyJWT(t, srv, wantTokens(t, got).IDToken), map[string]any{"sub": "grace"})
		})
	}
}

func TestDevicePageExpiredCode(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	da := startDevice(t, srv, spaAuth, "openid")
	clk.Advance(5 * time.Minute)
	if res := submitDevice(t, srv, da.UserCode, "ada", "lovelace", "approve"); res.status != http.StatusBadRequest {
		t.Errorf("expired code: status %d, want 400", res.status)
	}
	// A decided code cannot be decided again.
	fresh := startDevice(t, srv, spaAuth, "openid")
	if res := submitDevice(t, srv, fresh.UserCode, "ada", "lovelace", "deny"); res.status != http.StatusOK {
		t.Fatalf("deny: status %d", res.status)
	}
	if res := submitDevice(t, srv, fresh.UserCode, "ada", "lovelace", "approve"); res.status != http.StatusBadRequest {
		t.Errorf("approve after deny: status %d, want 400", res.status)
	}
}
