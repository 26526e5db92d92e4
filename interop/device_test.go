package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
)

// TestDeviceGrant runs Keyway's device grant (RFC 8628) for the public
// client cli: DeviceAuth, then DeviceToken polling while a user approves or
// declines the code on the provider's own pages. The provider sends no
// interval, so the first poll comes after the default 5 s; both subtests
// wait at the same time.
func TestDeviceGrant(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	c := newClient(t, p, client.Config{ClientID: "cli", Scopes: []string{"openid", "offline_access"}})
	for _, tt := range []struct {
		name string
		deny bool
	}{
		{"approved", false},
		{"denied", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			da, err := c.DeviceAuth(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if da.Interval != client.DefaultDeviceInterval || da.UserCode == "" ||
				!strings.HasPrefix(da.VerificationURIComplete, p.Issuer+"/device?") {
				t.Fatalf("DeviceAuth = %+v; want the default interval, a user code and a verification URI at %s/device", da, p.Issuer)
			}
			type result struct {
				tok *client.Token
				err error
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				tok, err := c.DeviceToken(ctx, da)
				done <- result{tok, err}
			}()
			if tt.deny {
				p.denyDevice(t, da.VerificationURIComplete)
			} else {
				p.approveDevice(t, da.VerificationURIComplete, "ada")
			}
			r := <-done // DeviceToken ends by ctx at the latest
			if elapsed := time.Since(start); elapsed < client.DefaultDeviceInterval {
				t.Errorf("DeviceToken returned after %v, before the first interval", elapsed)
			}
			if tt.deny {
				if !errors.Is(r.err, client.ErrAccessDenied) {
					t.Errorf("DeviceToken after the user aborted = %v, want ErrAccessDenied", r.err)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("DeviceToken after approval: %v", r.err)
			}
			_, claims := decodeJWT(t, r.tok.IDToken)
			if r.tok.AccessToken == "" || r.tok.Type() != "Bearer" || claims["sub"] != "ada" || claims["aud"] != "cli" {
				t.Errorf("token type %q, ID token claims %v; want a Bearer access token and an ID token for ada, aud cli", r.tok.Type(), claims)
			}
			// Unlike an authorization request, a device authorization
			// keeps offline_access without prompt=consent.
			if scope, _ := r.tok.Extra("scope").(string); scope != "openid offline_access" || r.tok.RefreshToken == "" {
				t.Fatalf("scope %q, refresh token %t; want openid offline_access and a refresh token", scope, r.tok.RefreshToken != "")
			}
			refreshed, err := c.Refresh(ctx, r.tok.RefreshToken)
			if err != nil || refreshed.AccessToken == "" || refreshed.RefreshToken == r.tok.RefreshToken {
				t.Errorf("Refresh: %v; want new tokens and a rotated refresh token", err)
			}
		})
	}
}

// approveDevice approves a device authorization as user username would in a
// browser (RFC 8628 §3.3): it opens verificationURIComplete, confirms the user
// code, signs in and consents on the provider's pages, and returns when the
// provider shows its success page. Only requests to the provider are sent, at most
// maxLoginSteps of them. It fails the test on any other outcome.
func (p *provider) approveDevice(t testing.TB, verificationURIComplete, username string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := p.walkDevice(ctx, verificationURIComplete, username, false); err != nil {
		t.Fatal(err)
	}
}

// denyDevice declines a device authorization as a user would who does not
// recognise the code: it opens verificationURIComplete and presses the
// confirmation page's "Abort" button, and returns when the provider says the
// sign-in was interrupted. It fails the test on any other outcome.
func (p *provider) denyDevice(t testing.TB, verificationURIComplete string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := p.walkDevice(ctx, verificationURIComplete, "", true); err != nil {
		t.Fatal(err)
	}
}

// walkDevice is approveDevice, or denyDevice when abort is set, without the
// test.
func (p *provider) walkDevice(ctx context.Context, target, username string, abort bool) error {
	browser := noRedirects(nil)
	providerHost := hostOf(p.Issuer)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return fmt.Errorf("interop: device: %w", err)
	}
	for range maxLoginSteps {
		if req.URL.Host != providerHost {
			return fmt.Errorf("interop: device: refusing to request %s: not the provider", req.URL.Redacted())
		}
		status, location, body, err := send(browser, req)
		if err != nil {
			return err
		}
		switch {
		case abort && location == "" && bytes.Contains(body, []byte("The Sign-in request was interrupted")):
			return nil
		case location != "":
			next, err := req.URL.Parse(location)
			if err != nil {
				return fmt.Errorf("interop: device: bad redirect %q: %w", location, err)
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, next.String(), nil); err != nil {
				return fmt.Errorf("interop: device: %w", err)
			}
		case status == http.StatusOK && formRE.Match(body):
			action, values, err := readForm(req.URL, body, providerHost, username)
			if err != nil {
				return err
			}
			if abort && values.Has("confirm") {
				// The confirmation form; its Abort button, outside the
				// form, submits it with abort=yes.
				values.Set("abort", "yes")
			}
			if req, err = postForm(ctx, action, values); err != nil {
				return err
			}
		case !abort && status == http.StatusOK && bytes.Contains(body, []byte("Sign-in Success")):
			return nil
		default:
			return fmt.Errorf("interop: device: %s %s: status %d: %s", req.Method, req.URL.Path, status, pageText(body))
		}
	}
	return fmt.Errorf("interop: device: no success page after %d requests", maxLoginSteps)
}
