package oidctest_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

// deviceAuth is a device authorization response.
type deviceAuth struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// startDevice asks for a device code with scope.
func startDevice(t testing.TB, srv *oidctest.Server, auth clientAuth, scope string) deviceAuth {
	t.Helper()
	res := post(t, srv, "/device_authorization", auth, url.Values{"scope": {scope}})
	if res.status != http.StatusOK {
		t.Fatalf("device authorization: status %d: %s", res.status, res.body)
	}
	var da deviceAuth
	if err := json.Unmarshal(res.body, &da); err != nil {
		t.Fatal(err)
	}
	return da
}

func deviceForm(deviceCode string) url.Values {
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {deviceCode}}
}

func poll(t testing.TB, srv *oidctest.Server, auth clientAuth, deviceCode string) response {
	t.Helper()
	return post(t, srv, "/token", auth, deviceForm(deviceCode))
}

var userCodePattern = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceAuthorizationResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		cfg                 oidctest.Config
		expiresIn, interval int
	}{
		{"defaults", oidctest.Config{}, 300, 5},
		{"interval rounded up", oidctest.Config{DeviceInterval: 1500 * time.Millisecond, DeviceCodeTTL: 90 * time.Second}, 90, 2},
		{"short interval is 1", oidctest.Config{DeviceInterval: 50 * time.Millisecond}, 300, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tt.cfg)
			da := startDevice(t, srv, spaAuth, "openid")
			if da.DeviceCode == "" || !userCodePattern.MatchString(da.UserCode) {
				t.Errorf("device_code %q, user_code %q", da.DeviceCode, da.UserCode)
			}
			if da.VerificationURI != srv.Issuer+"/device" {
				t.Errorf("verification_uri = %q", da.VerificationURI)
			}
			if da.VerificationURIComplete != srv.Issuer+"/device?user_code="+da.UserCode {
				t.Errorf("verification_uri_complete = %q", da.VerificationURIComplete)
			}
			if da.ExpiresIn != tt.expiresIn || da.Interval != tt.interval {
				t.Errorf("expires_in %d, interval %d; want %d, %d", da.ExpiresIn, da.Interval, tt.expiresIn, tt.interval)
			}
		})
	}
}

func TestDeviceUserCodesDiffer(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	seen := map[string]bool{}
	for range 50 {
		da := startDevice(t, srv, spaAuth, "openid")
		if !userCodePattern.MatchString(da.UserCode) || seen[da.UserCode] || seen[da.DeviceCode] {
			t.Fatalf("user code %q / device code %q: malformed or repeated", da.UserCode, da.DeviceCode)
		}
		seen[da.UserCode], seen[da.DeviceCode] = true, true
	}
}

// TestDeviceFlow polls through pending, slow_down and approval.
func TestDeviceFlow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	da := startDevice(t, srv, spaAuth, defaultScope)

	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "authorization_pending")
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "slow_down")
	// The interval is now 10 s: 5 s later is still too soon.
	clk.Advance(5 * time.Second)
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "slow_down")
	clk.Advance(15 * time.Second)
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "authorization_pending")

	// The user code is read in any case, with or without the dash.
	if err := srv.ApproveDevice(strings.ToLower(strings.ReplaceAll(da.UserCode, "-", "")), "ada"); err != nil {
		t.Fatalf("ApproveDevice: %v", err)
	}
	clk.Advance(20 * time.Second)
	tk := wantTokens(t, poll(t, srv, spaAuth, da.DeviceCode))
	if tk.IDToken == "" || tk.RefreshToken == "" {
		t.Errorf("tokens %+v: want an ID token (openid) and a refresh token (offline_access)", tk)
	}
	wantClaims(t, verifyJWT(t, srv, tk.IDToken), map[string]any{"sub": "ada", "aud": spaID, "auth_time": clk.Now().Add(-20 * time.Second).Unix()}, "nonce")
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), map[string]any{"sub": "ada", "client_id": spaID, "scope": defaultScope})
	wantTokens(t, post(t, srv, "/token", spaAuth, refreshForm(tk.RefreshToken)))

	// A device code gives tokens once.
	clk.Advance(20 * time.Second)
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "invalid_grant")
}

// TestDeviceSlowDownRealTime checks the interval on real durations, so a
// short Config.DeviceInterval makes fast tests.
func TestDeviceSlowDownRealTime(t *testing.T) {
	t.Parallel()
	const interval = 300 * time.Millisecond
	srv := newServer(t, oidctest.Config{DeviceInterval: interval})
	da := startDevice(t, srv, spaAuth, "openid")
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "authorization_pending")
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "slow_down")

	da = startDevice(t, srv, spaAuth, "openid")
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "authorization_pending")
	time.Sleep(interval + 50*time.Millisecond)
	wantOAuthError(t, poll(t, srv, spaAuth, da.DeviceCode), http.StatusBadRequest, "authorization_pending")
}

func TestDeviceGrantErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// act runs between the device authorization and the poll, and
		// returns the form to poll with.
		act  func(t testing.TB, srv *oidctest.Server, clk *clock, da deviceAuth) url.Values
		auth clientAuth
		code string
	}{
		{"denied", func(t testing.TB, srv *oidctest.Server, _ *clock, da deviceAuth) url.Values {
			if err := srv.DenyDevice(da.UserCode); err != nil {
				t.Fatal(err)
			}
			return deviceForm(da.DeviceCode)
		}, spaAuth, "access_denied"},
		{"expired", func(_ testing.TB, _ *oidctest.Server, clk *clock, da deviceAuth) url.Values {
			clk.Advance(5 * time.Minute)
			return deviceForm(da.DeviceCode)
		}, spaAuth, "expired_token"},
		{"approved after expiry", func(t testing.TB, srv *oidctest.Server, clk *clock, da deviceAuth) url.Values {
			if err := srv.ApproveDevice(da.UserCode, "ada"); err != nil {
				t.Fatal(err)
			}
			clk.Advance(5 * time.Minute)
			return deviceForm(da.DeviceCode)
		}, spaAuth, "expired_token"},
		{"another client", func(t testing.TB, srv *oidctest.Server, _ *clock, da deviceAuth) url.Values {
			if err := srv.ApproveDevice(da.UserCode, "ada"); err != nil {
				t.Fatal(err)
			}
			return deviceForm(da.DeviceCode)
		}, appAuth, "invalid_grant"},
		{"unknown device code", func(testing.TB, *oidctest.Server, *clock, deviceAuth) url.Values {
			return deviceForm("nope")
		}, spaAuth, "invalid_grant"},
		{"no device code", func(testing.TB, *oidctest.Server, *clock, deviceAuth) url.Values {
			return deviceForm("")
		}, spaAuth, "invalid_request"},
		{"resource not asked for", func(t testing.TB, srv *oidctest.Server, _ *clock, da deviceAuth) url.Values {
			if err := srv.ApproveDevice(da.UserCode, "ada"); err != nil {
				t.Fatal(err)
			}
			f := deviceForm(da.DeviceCode)
			f.Set("resource", "https://other.example/")
			return f
		}, spaAuth, "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			res := post(t, srv, "/device_authorization", spaAuth, url.Values{"scope": {"openid"}, "resource": {"https://api.example/"}})
			var da deviceAuth
			if err := json.Unmarshal(res.body, &da); err != nil || da.DeviceCode == "" {
				t.Fatalf("device authorization: %d %s", res.status, res.body)
			}
			wantOAuthError(t, post(t, srv, "/token", tt.auth, tt.act(t, srv, clk, da)), http.StatusBadRequest, tt.code)
		})
	}
}

func TestDeviceGrantWithResourceAndDPoP(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	res := post(t, srv, "/device_authorization", appAuth, url.Values{"scope": {"openid"}, "resource": {"https://api.example/"}})
	var da deviceAuth
	if err := json.Unmarshal(res.body, &da); err != nil {
		t.Fatal(err)
	}
	if err := srv.ApproveDevice(da.UserCode, "ada"); err != nil {
		t.Fatal(err)
	}
	key := newDPoPKey(t, jose.ES256)
	tk := wantTokens(t, post(t, srv, "/token", both(appAuth, tokenProof(t, srv, key)), deviceForm(da.DeviceCode)))
	claims := verifyJWT(t, srv, tk.AccessToken)
	wantClaims(t, claims, map[string]any{"aud": "https://api.example/", "client_id": appID})
	if tk.TokenType != "DPoP" || cnfJKT(claims) != key.jkt(t) {
		t.Errorf("token_type %q, cnf.jkt %q: want DPoP bound to the proof's key", tk.TokenType, cnfJKT(claims))
	}
}

func TestDeviceAuthorizationRejects(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	wantOAuthError(t, post(t, srv, "/device_authorization", secretBasic(appID, "wrong"), nil), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, post(t, srv, "/device_authorization", nil, nil), http.StatusUnauthorized, "invalid_client")
	wantOAuthError(t, post(t, srv, "/device_authorization", spaAuth, url.Values{"resource": {"relative/path"}}), http.StatusBadRequest, "invalid_target")
	wantOAuthError(t, get(t, srv.Client(), srv.Issuer+"/device_authorization"), http.StatusMethodNotAllowed, "invalid_request")
}

func TestApproveDeviceErrors(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	da := startDevice(t, srv, spaAuth, "openid")
	if err := srv.ApproveDevice(da.UserCode, "nobody"); err == nil {
		t.Error("ApproveDevice for an unknown subject succeeded")
	}
	if err := srv.ApproveDevice("BBBB-BBBB", "ada"); err == nil {
		t.Error("ApproveDevice for an unknown user code succeeded")
	}
	if err := srv.DenyDevice("BBBB-BBBB"); err == nil {
		t.Error("DenyDevice for an unknown user code succeeded")
	}
	if err := srv.ApproveDevice(da.UserCode, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := srv.DenyDevice(da.UserCode); err == nil {
		t.Error("DenyDevice after approval succeeded")
	}
	expiring := startDevice(t, srv, spaAuth, "openid")
	clk.Advance(5 * time.Minute)
	if err := srv.ApproveDevice(expiring.UserCode, "ada"); err == nil {
		t.Error("ApproveDevice for an expired user code succeeded")
	}
}

func TestDeviceEndpointsRecordedAndFaulted(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	startDevice(t, srv, spaAuth, "openid")
	get(t, srv.Client(), srv.Issuer+"/device")
	if n := len(srv.Requests(oidctest.EndpointDeviceAuthorization)); n != 1 {
		t.Errorf("%d device authorization requests recorded, want 1", n)
	}
	if n := len(srv.Requests(oidctest.EndpointDevice)); n != 1 {
		t.Errorf("%d device page requests recorded, want 1", n)
	}
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointDeviceAuthorization: {Status: http.StatusServiceUnavailable, Body: `{"error":"temporarily_unavailable"}`},
		oidctest.EndpointDevice:              {Status: http.StatusTeapot},
	}})
	if res := post(t, srv, "/device_authorization", spaAuth, nil); res.status != http.StatusServiceUnavailable {
		t.Errorf("faulted device authorization: status %d, want 503", res.status)
	}
	if res := get(t, srv.Client(), srv.Issuer+"/device"); res.status != http.StatusTeapot {
		t.Errorf("faulted device page: status %d, want 418", res.status)
	}
}
