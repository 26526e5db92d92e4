package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
)

func TestDeviceAuthParsesResponse(t *testing.T) {
	t.Parallel()
	const full = `{"device_code":"dc","user_code":"WDJB-MJHT","verification_uri":"https://as.example/device",` +
		`"verification_uri_complete":"https://as.example/device?user_code=WDJB-MJHT","expires_in":600,"interval":7}`
	tests := []struct {
		name     string
		status   int
		body     string
		want     *client.DeviceAuth // Expiry as an offset from the clock
		life     time.Duration
		wantErr  error
		tokenErr string
	}{
		{name: "full", body: full, life: 600 * time.Second, want: &client.DeviceAuth{
			DeviceCode: "dc", UserCode: "WDJB-MJHT", VerificationURI: "https://as.example/device",
			VerificationURIComplete: "https://as.example/device?user_code=WDJB-MJHT", Interval: 7 * time.Second}},
		{name: "verification_url spelling, no interval", life: 1800 * time.Second,
			body: `{"device_code":"dc","user_code":"u","verification_url":"https://as.example/d","expires_in":"1800"}`,
			want: &client.DeviceAuth{DeviceCode: "dc", UserCode: "u", VerificationURI: "https://as.example/d", Interval: 5 * time.Second}},
		{name: "lifetime capped", life: client.MaxDeviceLifetime,
			body: `{"device_code":"dc","user_code":"u","verification_uri":"https://as.example/d","expires_in":86400,"interval":0}`,
			want: &client.DeviceAuth{DeviceCode: "dc", UserCode: "u", VerificationURI: "https://as.example/d", Interval: 5 * time.Second}},
		{name: "no device_code", body: `{"user_code":"u","verification_uri":"https://as.example/d","expires_in":600}`, wantErr: client.ErrMalformedResponse},
		{name: "no user_code", body: `{"device_code":"dc","verification_uri":"https://as.example/d","expires_in":600}`, wantErr: client.ErrMalformedResponse},
		{name: "no verification_uri", body: `{"device_code":"dc","user_code":"u","expires_in":600}`, wantErr: client.ErrMalformedResponse},
		{name: "no expires_in", body: `{"device_code":"dc","user_code":"u","verification_uri":"https://as.example/d"}`, wantErr: client.ErrMalformedResponse},
		{name: "bad interval", body: `{"device_code":"dc","user_code":"u","verification_uri":"https://as.example/d","expires_in":600,"interval":"soon"}`, wantErr: client.ErrMalformedResponse},
		{name: "not JSON", body: `<html>`, wantErr: client.ErrMalformedResponse},
		{name: "error answer", status: 401, body: `{"error":"invalid_client"}`, tokenErr: "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			as := newFakeAS(t, map[string]http.HandlerFunc{"/device": answer(status, tt.body)})
			clk := newClock()
			c := as.client(t, func(cfg *client.Config) { cfg.Now = clk.Now })
			got, err := c.DeviceAuth(t.Context())
			switch {
			case tt.tokenErr != "":
				if te := asTokenError(t, err); te.Code != tt.tokenErr {
					t.Fatalf("code %q, want %q", te.Code, tt.tokenErr)
				}
			case tt.wantErr != nil:
				wantIs(t, err, tt.wantErr)
			case err != nil:
				t.Fatal(err)
			default:
				want := *tt.want
				want.Expiry = clk.Now().Add(tt.life)
				if *got != want {
					t.Fatalf("DeviceAuth = %+v, want %+v", *got, want)
				}
			}
		})
	}
}

func TestDeviceAuthRequest(t *testing.T) {
	t.Parallel()
	const ok = `{"device_code":"dc","user_code":"u","verification_uri":"https://as.example/d","expires_in":600}`
	tests := []struct {
		name      string
		opts      []client.AuthOption
		wantScope string
		resources int
	}{
		{"config scopes", nil, "openid offline_access", 0},
		{"scopes option", []client.AuthOption{client.Scopes("read")}, "read", 0},
		{"resource", []client.AuthOption{client.Resource("https://api.example")}, "openid offline_access", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/device": answer(200, ok)})
			c := as.client(t, func(cfg *client.Config) { cfg.Scopes = []string{"openid", "offline_access"} })
			if _, err := c.DeviceAuth(t.Context(), tt.opts...); err != nil {
				t.Fatal(err)
			}
			f := as.requests("/device")[0].form
			if f.Get("scope") != tt.wantScope || len(f["resource"]) != tt.resources {
				t.Fatalf("form %v", f)
			}
			if f.Get("client_id") != "app" || f.Get("client_secret") != "s3cret" {
				t.Fatalf("request not authenticated: %v", f)
			}
		})
	}
}

func TestDeviceAuthRefusals(t *testing.T) {
	t.Parallel()
	as := newFakeAS(t, nil)
	c := as.client(t, nil)
	for name, opts := range map[string][]client.AuthOption{
		"redirect URL":       {client.RedirectURL("http://127.0.0.1/cb")},
		"reserved parameter": {client.Param("client_id", "other")},
	} {
		if _, err := c.DeviceAuth(t.Context(), opts...); err == nil {
			t.Errorf("%s: DeviceAuth succeeded", name)
		}
	}
	noDevice := as.client(t, func(cfg *client.Config) { cfg.Endpoint.DeviceAuthURL = "" })
	if _, err := noDevice.DeviceAuth(t.Context()); err == nil {
		t.Error("DeviceAuth without an endpoint succeeded")
	}
	if n := len(as.requests("/device")); n != 0 {
		t.Fatalf("%d requests, want none", n)
	}
}

// deviceAuth returns a DeviceAuth that polls every interval and expires
// after life.
func deviceAuth(interval, life time.Duration) *client.DeviceAuth {
	return &client.DeviceAuth{DeviceCode: "dc", UserCode: "u", VerificationURI: "https://as.example/d",
		Expiry: time.Now().Add(life), Interval: interval}
}

func TestDeviceTokenAnswers(t *testing.T) {
	t.Parallel()
	pending := answer(400, `{"error":"authorization_pending"}`)
	unavailable := answer(503, `{"error":"temporarily_unavailable"}`)
	success := answer(200, tokenJSON)
	tests := []struct {
		name     string
		token    http.HandlerFunc
		polls    int
		wantErr  error // nil with tokenErr "" and transport false: success
		tokenErr string
		network  bool
	}{
		{name: "pending, then approved", token: sequence(pending, pending, success), polls: 3},
		{name: "denied", token: sequence(pending, answer(400, `{"error":"access_denied"}`)), polls: 2, wantErr: client.ErrAccessDenied, tokenErr: "access_denied"},
		{name: "expired at the server", token: answer(400, `{"error":"expired_token"}`), polls: 1, wantErr: client.ErrDeviceExpired, tokenErr: "expired_token"},
		{name: "another error", token: answer(400, `{"error":"invalid_grant"}`), polls: 1, wantErr: client.ErrInvalidGrant, tokenErr: "invalid_grant"},
		{name: "unknown error", token: answer(400, `{"error":"invalid_request"}`), polls: 1, tokenErr: "invalid_request"},
		{name: "5xx retried", token: sequence(unavailable, unavailable, success), polls: 3},
		{name: "429 retried", token: sequence(answer(429, `{}`), success), polls: 2},
		{name: "network error retried", token: sequence(hangUp, pending, hangUp, success), polls: 4},
		{name: "5xx retries are bounded", token: unavailable, polls: 6, tokenErr: "temporarily_unavailable"},
		{name: "network retries are bounded", token: hangUp, polls: 6, network: true},
		{name: "malformed success", token: answer(200, `{"token_type":"Bearer"}`), polls: 1, wantErr: client.ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/token": tt.token})
			c := as.client(t, nil)
			tok, err := c.DeviceToken(t.Context(), deviceAuth(5*time.Millisecond, time.Minute))
			if n := len(as.requests("/token")); n != tt.polls {
				t.Errorf("%d polls, want %d", n, tt.polls)
			}
			switch {
			case tt.wantErr == nil && tt.tokenErr == "" && !tt.network:
				if err != nil || tok.AccessToken != "at" {
					t.Fatalf("DeviceToken: %v", err)
				}
			case tt.network:
				var te *client.TokenError
				if err == nil || errors.As(err, &te) {
					t.Fatalf("DeviceToken: %v, want a network error", err)
				}
			default:
				if tok != nil || err == nil {
					t.Fatal("DeviceToken succeeded")
				}
				if tt.wantErr != nil {
					wantIs(t, err, tt.wantErr)
				}
				if tt.tokenErr != "" {
					if te := asTokenError(t, err); te.Code != tt.tokenErr {
						t.Fatalf("code %q, want %q", te.Code, tt.tokenErr)
					}
				}
				if tt.wantErr != client.ErrAccessDenied && errors.Is(err, client.ErrAccessDenied) {
					t.Fatal("error matches ErrAccessDenied")
				}
				if tt.wantErr != client.ErrDeviceExpired && errors.Is(err, client.ErrDeviceExpired) {
					t.Fatal("error matches ErrDeviceExpired")
				}
			}
		})
	}
}

func TestDeviceTokenRequest(t *testing.T) {
	t.Parallel()
	as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(200, tokenJSON)})
	c := as.client(t, nil)
	da := deviceAuth(5*time.Millisecond, time.Minute)
	keep := *da
	if _, err := c.DeviceToken(t.Context(), da, client.Resource("https://api.example")); err != nil {
		t.Fatal(err)
	}
	f := as.requests("/token")[0].form
	if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:device_code" || f.Get("device_code") != "dc" ||
		f.Get("client_secret") != "s3cret" || f.Get("resource") != "https://api.example" {
		t.Fatalf("form %v", f)
	}
	if *da != keep {
		t.Fatal("DeviceToken modified the DeviceAuth")
	}
	for name, bad := range map[string]*client.DeviceAuth{"nil": nil, "no device code": {Expiry: time.Now().Add(time.Minute)}} {
		if _, err := c.DeviceToken(t.Context(), bad); err == nil {
			t.Errorf("%s: DeviceToken succeeded", name)
		}
	}
}

func TestDeviceTokenWaitsInterval(t *testing.T) {
	t.Parallel()
	pending := answer(400, `{"error":"authorization_pending"}`)
	slowDown := answer(400, `{"error":"slow_down"}`)
	const interval = 30 * time.Millisecond
	step := client.SlowDownStep
	tests := []struct {
		name  string
		token http.HandlerFunc
		gaps  []time.Duration // the least wait before each poll after the first
	}{
		{"pending", sequence(pending, pending, answer(200, tokenJSON)), []time.Duration{interval, interval}},
		{"slow_down raises this and later intervals", sequence(slowDown, pending, answer(200, tokenJSON)),
			[]time.Duration{interval + step, interval + step}},
		{"twice", sequence(slowDown, slowDown, answer(200, tokenJSON)), []time.Duration{interval + step, interval + 2*step}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/token": tt.token})
			c := as.client(t, nil)
			start := time.Now()
			if _, err := c.DeviceToken(t.Context(), deviceAuth(interval, time.Minute)); err != nil {
				t.Fatal(err)
			}
			polls := as.requests("/token")
			if len(polls) != len(tt.gaps)+1 {
				t.Fatalf("%d polls, want %d", len(polls), len(tt.gaps)+1)
			}
			if d := polls[0].time.Sub(start); d < interval {
				t.Fatalf("first poll after %v, want at least %v", d, interval)
			}
			for i, want := range tt.gaps {
				if d := polls[i+1].time.Sub(polls[i].time); d < want {
					t.Fatalf("poll %d came %v after the one before, want at least %v", i+2, d, want)
				}
			}
		})
	}
}

func TestDeviceTokenEndsAtExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		token http.HandlerFunc
	}{
		{"always pending", answer(400, `{"error":"authorization_pending"}`)},
		{"always unavailable", answer(503, `{}`)},
		{"hanging token endpoint", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/token": tt.token})
			c := as.client(t, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // only if expiry fails
			defer cancel()
			start := time.Now()
			_, err := c.DeviceToken(ctx, deviceAuth(20*time.Millisecond, 300*time.Millisecond))
			wantIs(t, err, client.ErrDeviceExpired)
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("DeviceToken returned after %v, want soon after expiry", d)
			}
			if n := len(as.requests("/token")); n > 15 {
				t.Fatalf("%d polls in 300ms at a 20ms interval", n)
			}
		})
	}
}

func TestDeviceTokenExpiredByClock(t *testing.T) {
	t.Parallel()
	as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(200, tokenJSON)})
	clk := newClock()
	c := as.client(t, func(cfg *client.Config) { cfg.Now = clk.Now })
	da := deviceAuth(time.Millisecond, time.Minute)
	da.Expiry = clk.Now().Add(time.Minute)
	clk.Advance(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // only if expiry fails
	defer cancel()
	_, err := c.DeviceToken(ctx, da)
	wantIs(t, err, client.ErrDeviceExpired)
	if n := len(as.requests("/token")); n != 0 {
		t.Fatalf("%d polls for an expired code", n)
	}
}

func TestDeviceTokenStopsWithContext(t *testing.T) {
	t.Parallel()
	as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(400, `{"error":"authorization_pending"}`)})
	c := as.client(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.DeviceToken(ctx, deviceAuth(10*time.Millisecond, time.Minute))
	wantIs(t, err, context.DeadlineExceeded)
	if errors.Is(err, client.ErrDeviceExpired) {
		t.Fatal("the caller's deadline reported as expiry")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("DeviceToken returned after %v", d)
	}
}
