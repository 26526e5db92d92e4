package client_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// withDevice adds the provider's device authorization endpoint.
func (f *fixture) withDevice(cfg *client.Config) {
	cfg.Endpoint.DeviceAuthURL = f.srv.Issuer + "/device_authorization"
}

var userCode = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

func TestDeviceGrantOIDCTest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		id      string
		answer  func(srv *oidctest.Server, userCode string) error // after two pending polls
		ttl     time.Duration
		wantErr error
	}{
		{name: "approved, public client", id: publicID, answer: func(srv *oidctest.Server, code string) error {
			return srv.ApproveDevice(strings.ToLower(code), oidctest.DemoUser.Subject)
		}},
		{name: "approved, confidential client", id: basicID, answer: func(srv *oidctest.Server, code string) error {
			return srv.ApproveDevice(code, oidctest.DemoUser.Subject)
		}},
		{name: "denied", id: publicID, answer: func(srv *oidctest.Server, code string) error { return srv.DenyDevice(code) },
			wantErr: client.ErrAccessDenied},
		{name: "expired", id: publicID, ttl: 400 * time.Millisecond, wantErr: client.ErrDeviceExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{DeviceInterval: 50 * time.Millisecond, DeviceCodeTTL: tt.ttl})
			c := f.client(t, tt.id, f.withDevice)
			start := time.Now()
			da, err := c.DeviceAuth(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !userCode.MatchString(da.UserCode) || da.VerificationURI != f.srv.Issuer+"/device" ||
				!strings.Contains(da.VerificationURIComplete, "user_code=") || da.Interval != time.Second {
				t.Fatalf("DeviceAuth %+v", da)
			}
			ttl := orDefault(tt.ttl, 5*time.Minute)
			if d := da.Expiry.Sub(start); d < ttl-time.Second || d > ttl+time.Second {
				t.Fatalf("expiry in %v, want %v", d, ttl)
			}
			da.Interval = 60 * time.Millisecond // the server's real interval is 50ms

			type result struct {
				tok *client.Token
				err error
			}
			done := make(chan result, 1)
			go func() {
				tok, err := c.DeviceToken(t.Context(), da)
				done <- result{tok, err}
			}()
			if tt.answer != nil {
				waitFor(t, func() bool { return len(f.srv.Requests(oidctest.EndpointToken)) >= 2 })
				if err := tt.answer(f.srv, da.UserCode); err != nil {
					t.Fatal(err)
				}
			}
			r := <-done
			if tt.wantErr != nil {
				wantIs(t, r.err, tt.wantErr)
				return
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.tok.IDToken == "" || r.tok.RefreshToken == "" || jwtClaims(t, r.tok.AccessToken)["sub"] != oidctest.DemoUser.Subject {
				t.Fatalf("token %+v", r.tok)
			}
			for _, req := range f.srv.Requests(oidctest.EndpointToken) {
				if req.Form.Get("device_code") != da.DeviceCode {
					t.Fatalf("poll without the device code: %v", req.Form)
				}
			}
			// The device code is used up.
			again := *da
			again.Interval = time.Millisecond
			_, err = c.DeviceToken(t.Context(), &again)
			wantIs(t, err, client.ErrInvalidGrant)
		})
	}
}

func TestDeviceGrantOIDCTestScopes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{DeviceInterval: 50 * time.Millisecond})
	c := f.client(t, publicID, f.withDevice)
	da, err := c.DeviceAuth(t.Context(), client.Scopes("openid"), client.Resource("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.ApproveDevice(da.UserCode, oidctest.DemoUser.Subject); err != nil {
		t.Fatal(err)
	}
	da.Interval = time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	tok, err := c.DeviceToken(ctx, da)
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Extra("scope") != "openid" || jwtClaims(t, tok.AccessToken)["aud"] != "https://api.example" {
		t.Fatalf("token %+v, want scope openid for the API and no refresh token", tok)
	}
}

// orDefault returns d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
