package client_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
)

// The leak tests are not parallel: they count the goroutines running this
// package's code, which another test's calls would add to.

// tokenSourceFrames are the functions a TokenSource runs, its renewals
// included.
var tokenSourceFrames = []string{"keyway/client.(*TokenSource)", "keyway/client.(*Client).ClientCredentialsSource"}

// TestTokenSourceLeavesNoGoroutine: a renewal's goroutine ends when the
// renewal completes, and when its callers have left, within RefreshTimeout.
func TestTokenSourceLeavesNoGoroutine(t *testing.T) {
	const refreshTimeout = 200 * time.Millisecond
	for _, kind := range []string{"refresh", "client credentials"} {
		f := newFixture(t, oidctest.Config{})
		c := f.client(t, basicID, nil)
		source := func() *client.TokenSource {
			if kind == "refresh" {
				_, tok := f.login(t, c)
				stale := *tok
				stale.Expiry = time.Now().Add(-time.Second)
				return c.TokenSource(&stale, client.RefreshTimeout(refreshTimeout))
			}
			return c.ClientCredentialsSource(client.RefreshTimeout(refreshTimeout))
		}

		t.Run(kind+": renewal completes", func(t *testing.T) {
			lc := testenv.NewLeakCheck(tokenSourceFrames...)
			if _, err := source().Token(t.Context()); err != nil {
				t.Fatal(err)
			}
			lc.Ended(t, time.Second)
		})

		t.Run(kind+": caller leaves a slow renewal", func(t *testing.T) {
			ts := source()
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: time.Minute}}})
			t.Cleanup(func() { f.srv.SetFaults(oidctest.Faults{}) })
			lc := testenv.NewLeakCheck(tokenSourceFrames...)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := ts.Token(ctx)
			wantIs(t, err, context.DeadlineExceeded)
			if d := time.Since(start); d > time.Second {
				t.Errorf("Token returned %v after its ctx ended", d)
			}
			if len(lc.Started()) == 0 {
				t.Error("no renewal goroutine seen while the renewal was still under way")
			}
			lc.Ended(t, refreshTimeout+2*time.Second)
		})
	}
}

// loopbackFrames are the functions LoopbackLogin and its server run.
var loopbackFrames = []string{"keyway/client.(*Client).LoopbackLogin", "keyway/client.(*callback)"}

// TestLoopbackLoginLeavesNoGoroutine: however LoopbackLogin ends, its
// server, its handler and its helper goroutines are gone, and nothing
// listens on its port any more.
func TestLoopbackLoginLeavesNoGoroutine(t *testing.T) {
	errOpen := errors.New("no browser")
	tests := []struct {
		name    string
		faults  oidctest.Faults
		open    error         // what Open returns
		browse  bool          // visit the authorization URL
		timeout time.Duration // of LoopbackLogin's ctx
		check   func(t *testing.T, err error)
	}{
		{name: "success", browse: true, timeout: 10 * time.Second, check: func(t *testing.T, err error) {
			if err != nil {
				t.Fatalf("LoopbackLogin: %v", err)
			}
		}},
		{name: "error response", browse: true, timeout: 10 * time.Second,
			faults: oidctest.Faults{AuthorizationResponse: func(p url.Values) {
				p.Del("code")
				p.Set("error", "access_denied")
			}},
			check: func(t *testing.T, err error) {
				var ae *client.AuthError
				if !errors.As(err, &ae) {
					t.Fatalf("LoopbackLogin: %v, want an *AuthError", err)
				}
			}},
		{name: "Open fails", open: errOpen, timeout: 10 * time.Second, check: func(t *testing.T, err error) { wantIs(t, err, errOpen) }},
		{name: "ctx ends while waiting", timeout: 200 * time.Millisecond, check: func(t *testing.T, err error) {
			wantIs(t, err, context.DeadlineExceeded)
		}},
		{name: "ctx ends during the code exchange", browse: true, timeout: 500 * time.Millisecond,
			faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: time.Minute}}},
			check:  func(t *testing.T, err error) { wantIs(t, err, context.DeadlineExceeded) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, oidctest.Config{})
			f.srv.SetFaults(tt.faults)
			c := f.client(t, publicID, func(cfg *client.Config) { cfg.RedirectURL = "" })
			lc := testenv.NewLeakCheck(loopbackFrames...)
			urls := make(chan string, 1)
			cfg := client.LoopbackConfig{Open: func(u string) error {
				urls <- u
				return tt.open
			}}
			ctx, cancel := context.WithTimeout(t.Context(), tt.timeout)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := c.LoopbackLogin(ctx, cfg)
				done <- err
			}()
			authURL := <-urls
			if tt.open == nil && len(lc.Started()) == 0 {
				t.Error("no LoopbackLogin goroutine seen while it waits")
			}
			redirect := registerRedirect(t, f, authURL)
			if tt.browse {
				visit(t, authURL)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(tt.timeout + 10*time.Second):
				t.Fatal("LoopbackLogin did not end")
			}
			tt.check(t, err)
			lc.Ended(t, 2*time.Second)
			wantClosed(t, redirect)
		})
	}
}
