package interop

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// approveDevice approves a device authorization as user username would in a
// browser (RFC 8628 §3.3): it opens verificationURIComplete, confirms the user
// code, signs in and consents on the provider's pages, and returns when the
// provider shows its success page. Only requests to the provider are sent, at most
// maxLoginSteps of them. It fails the test on any other outcome.
func (p *provider) approveDevice(t testing.TB, verificationURIComplete, username string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	if err := p.walkDevice(ctx, verificationURIComplete, username); err != nil {
		t.Fatal(err)
	}
}

// walkDevice is approveDevice without the test.
func (p *provider) walkDevice(ctx context.Context, target, username string) error {
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
			if req, err = postForm(ctx, action, values); err != nil {
				return err
			}
		case status == http.StatusOK && bytes.Contains(body, []byte("Sign-in Success")):
			return nil
		default:
			return fmt.Errorf("interop: device: %s %s: status %d: %s", req.Method, req.URL.Path, status, pageText(body))
		}
	}
	return fmt.Errorf("interop: device: no success page after %d requests", maxLoginSteps)
}
