package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

// expired returns a copy of tok that expired a minute ago by clk.
func expired(tok *client.Token, now time.Time) *client.Token {
	old := *tok
	old.Expiry = now.Add(-time.Minute)
	return &old
}

func TestRefreshRotates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	next, err := c.Refresh(t.Context(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if next.AccessToken == tok.AccessToken || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatal("refresh did not return new tokens")
	}
	// oidctest detects the reuse of the rotated token and revokes the grant.
	_, err = c.Refresh(t.Context(), tok.RefreshToken)
	wantIs(t, err, client.ErrInvalidGrant)
	_, err = c.Refresh(t.Context(), next.RefreshToken)
	wantIs(t, err, client.ErrInvalidGrant)
	_, err = c.Refresh(t.Context(), "")
	wantIs(t, err, client.ErrNoRefreshToken)
}

func TestRefreshKeepsRefreshTokenWhenNoneReturned(t *testing.T) {
	t.Parallel()
	// Without rotation at the server, the fault below makes the response
	// omit the refresh token, as servers that do not rotate may.
	f := newFixture(t, oidctest.Config{NoRefreshRotation: true})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	f.srv.SetFaults(oidctest.Faults{TokenResponse: func(body map[string]any) {
		delete(body, "refresh_token")
		delete(body, "id_token")
	}})
	next, err := c.Refresh(t.Context(), tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken != tok.RefreshToken {
		t.Fatalf("refresh token %q, want the old one kept", next.RefreshToken)
	}
	// A TokenSource keeps the ID token too.
	ts := c.TokenSource(expired(tok, time.Now()))
	got, err := ts.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.IDToken != tok.IDToken || got.RefreshToken != tok.RefreshToken {
		t.Fatal("TokenSource dropped the ID or refresh token")
	}
}

func TestRefreshSendsOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c, client.Resource("https://a.example", "https://b.example"))
	ts := c.TokenSource(expired(tok, time.Now()), client.RefreshWith(client.Resource("https://a.example"), client.Param("scope", "openid")))
	got, err := ts.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if aud := jwtClaims(t, got.AccessToken)["aud"]; aud != "https://a.example" {
		t.Fatalf("aud %v, want the narrowed resource", aud)
	}
	if got.Extra("scope") != "openid" {
		t.Fatalf("scope %v, want the narrowed scope", got.Extra("scope"))
	}
}

func TestTokenSourceRefreshesOnceForConcurrentCallers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	old := expired(tok, time.Now())
	var rotations atomic.Int32
	var rotated *client.Token
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "caller")
	ts := c.TokenSource(old, client.OnRotate(func(ctx context.Context, prev, next *client.Token) error {
		rotations.Add(1)
		if prev != old {
			t.Errorf("OnRotate prev is not the old token")
		}
		if ctx.Value(key{}) != "caller" {
			t.Errorf("OnRotate context lacks the caller's values")
		}
		rotated = next
		return nil
	}))
	f.srv.ResetRequests()

	const callers = 50
	var wg sync.WaitGroup
	got := make([]*client.Token, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	for i := range callers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = ts.Token(ctx)
		})
	}
	close(start)
	wg.Wait()

	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("caller %d got another token", i)
		}
	}
	if rotations.Load() != 1 || rotated != got[0] {
		t.Fatalf("OnRotate called %d times", rotations.Load())
	}
	if rotated.RefreshToken == old.RefreshToken || rotated.RefreshToken == "" || rotated.AccessToken == old.AccessToken {
		t.Fatal("OnRotate did not get the rotated tokens")
	}
	// The new token is served without another refresh.
	if again, err := ts.Token(t.Context()); err != nil || again != got[0] {
		t.Fatalf("second Token: %v", err)
	}
	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 1 {
		t.Fatalf("%d token requests after a second call, want 1", n)
	}
}

func TestTokenSourceCallerCancellation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	ts := c.TokenSource(expired(tok, time.Now()))
	f.srv.ResetRequests()
	f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: 300 * time.Millisecond}}})

	// The first caller starts the refresh, then gives up.
	ctx, cancel := context.WithCancel(t.Context())
	firstDone := make(chan error, 1)
	go func() {
		_, err := ts.Token(ctx)
		firstDone <- err
	}()
	waitFor(t, func() bool { return len(f.srv.Requests(oidctest.EndpointToken)) == 1 })

	const others = 5
	results := make(chan error, others)
	for range others {
		go func() {
			got, err := ts.Token(t.Context())
			if err == nil && got.AccessToken == tok.AccessToken {
				err = errors.New("got the old token")
			}
			results <- err
		}()
	}
	cancelled := time.Now()
	cancel()
	select {
	case err := <-firstDone:
		wantIs(t, err, context.Canceled)
		if d := time.Since(cancelled); d > 100*time.Millisecond {
			t.Fatalf("cancelled caller returned after %v", d)
		}
	case <-time.After(time.Second):
		t.Fatal("cancelled caller still waiting")
	}
	for range others {
		if err := <-results; err != nil {
			t.Fatalf("other caller: %v", err)
		}
	}
	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 1 {
		t.Fatalf("%d token requests, want 1", n)
	}
}

// tokenEndpointFunc answers token requests in memory.
type tokenEndpointFunc func(*http.Request) *http.Response

func (f tokenEndpointFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }

func TestTokenSourceDoneContextStartsNoRefresh(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		endpoint := tokenEndpointFunc(func(r *http.Request) *http.Response {
			calls.Add(1)
			return &http.Response{
				StatusCode: 200, Request: r,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(`{"access_token":"new","token_type":"Bearer","expires_in":300}`)),
			}
		})
		c, err := client.New(client.Config{
			ClientID: "app", ClientSecret: "s",
			Endpoint:   client.Endpoint{TokenURL: "https://op.example/token"},
			HTTPClient: &http.Client{Transport: endpoint},
		})
		if err != nil {
			t.Fatal(err)
		}
		old := &client.Token{Token: oauth2.Token{AccessToken: "old", RefreshToken: "rt", Expiry: time.Now().Add(-time.Second)}}
		ts := c.TokenSource(old)
		done, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := ts.Token(done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Token with a done context: %v", err)
		}
		synctest.Wait() // any refresh it started has run by now
		if n := calls.Load(); n != 0 {
			t.Fatalf("%d token requests, want none", n)
		}
		if got, err := ts.Token(t.Context()); err != nil || got.AccessToken != "new" || calls.Load() != 1 {
			t.Fatalf("Token with a live context: %v", err)
		}
	})
}

// waitFor polls cond for up to two seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not reached")
}

func TestTokenSourceRefreshesEarly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		left      time.Duration // before expiry
		expiresIn int64         // the token's lifetime, 0 for unknown
		opts      []client.TokenSourceOption
		refresh   bool
	}{
		{"expired", -time.Second, 0, nil, true},
		{"within default margin", 29 * time.Second, 0, nil, true},
		{"outside default margin", 31 * time.Second, 0, nil, false},
		{"no expiry", 0, 0, nil, false},
		{"within custom margin", 90 * time.Second, 0, []client.TokenSourceOption{client.EarlyRefresh(2 * time.Minute)}, true},
		{"outside custom margin", 90 * time.Second, 0, []client.TokenSourceOption{client.EarlyRefresh(time.Minute)}, false},
		{"short-lived token, past half", 9 * time.Second, 20, nil, true},
		{"short-lived token, before half", 11 * time.Second, 20, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			clk := newClock()
			c := f.client(t, basicID, func(cfg *client.Config) { cfg.Now = clk.Now })
			_, tok := f.login(t, c)
			start := *tok
			start.ExpiresIn = tt.expiresIn
			start.Expiry = time.Time{}
			if tt.left != 0 {
				start.Expiry = clk.Now().Add(tt.left)
			}
			ts := c.TokenSource(&start, tt.opts...)
			got, err := ts.Token(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			refreshed := len(f.srv.Requests(oidctest.EndpointToken)) == 2
			if refreshed != tt.refresh || (got != &start) != tt.refresh {
				t.Fatalf("refreshed = %v, want %v", refreshed, tt.refresh)
			}
		})
	}
}

func TestTokenSourceLaterClock(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	clk := newClock()
	c := f.client(t, basicID, func(cfg *client.Config) { cfg.Now = clk.Now })
	_, tok := f.login(t, c) // expires in 5 minutes by clk
	ts := c.TokenSource(tok)
	if got, err := ts.Token(t.Context()); err != nil || got != tok {
		t.Fatalf("fresh token: %v", err)
	}
	clk.Advance(5*time.Minute - 10*time.Second)
	got, err := ts.Token(t.Context())
	if err != nil || got == tok {
		t.Fatalf("token near expiry was not refreshed: %v", err)
	}
	if want := clk.Now().Add(5 * time.Minute); !got.Expiry.Equal(want) {
		t.Fatalf("new expiry %v, want %v", got.Expiry, want)
	}
}

func TestTokenSourceFailures(t *testing.T) {
	t.Parallel()
	invalidGrant := oidctest.Failure{Status: 400, Body: `{"error":"invalid_grant","error_description":"grant revoked"}`}
	unavailable := oidctest.Failure{Status: 503, Body: `{"error":"temporarily_unavailable"}`}
	tests := []struct {
		name     string
		left     time.Duration
		failure  oidctest.Failure
		wantErr  error // nil: the current token is returned
		wantCode string
	}{
		{"invalid_grant, expired", -time.Second, invalidGrant, client.ErrInvalidGrant, "invalid_grant"},
		{"invalid_grant, within margin", 10 * time.Second, invalidGrant, client.ErrInvalidGrant, "invalid_grant"},
		{"unavailable, expired", -time.Second, unavailable, nil, "temporarily_unavailable"},
		{"unavailable, within margin", 10 * time.Second, unavailable, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, oidctest.Config{})
			c := f.client(t, basicID, nil)
			_, tok := f.login(t, c)
			start := *tok
			start.Expiry = time.Now().Add(tt.left)
			var rotations atomic.Int32
			ts := c.TokenSource(&start, client.OnRotate(func(context.Context, *client.Token, *client.Token) error {
				rotations.Add(1)
				return nil
			}))
			f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: tt.failure}})
			got, err := ts.Token(t.Context())
			switch {
			case tt.wantCode == "":
				if err != nil || got != &start {
					t.Fatalf("Token = %v, want the current token", err)
				}
			default:
				if got != nil || err == nil {
					t.Fatal("Token succeeded")
				}
				if te := asTokenError(t, err); te.Code != tt.wantCode {
					t.Fatalf("code %q, want %q", te.Code, tt.wantCode)
				}
				if tt.wantErr != nil {
					wantIs(t, err, tt.wantErr)
				} else if errors.Is(err, client.ErrInvalidGrant) {
					t.Fatal("a server error matches ErrInvalidGrant")
				}
			}
			if rotations.Load() != 0 {
				t.Fatal("OnRotate called for a failed refresh")
			}
			// The failure did not wipe the token: its refresh token still works.
			f.srv.SetFaults(oidctest.Faults{})
			got, err = ts.Token(t.Context())
			if err != nil || got.AccessToken == tok.AccessToken || rotations.Load() != 1 {
				t.Fatalf("refresh after recovery: %v", err)
			}
		})
	}
}

func TestTokenSourceWithoutRefreshToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	for name, tok := range map[string]*client.Token{
		"nil":              nil,
		"no refresh token": {Token: oauth2.Token{AccessToken: "a", Expiry: time.Now().Add(-time.Second)}},
	} {
		_, err := c.TokenSource(tok).Token(t.Context())
		if !errors.Is(err, client.ErrNoRefreshToken) {
			t.Errorf("%s: %v, want ErrNoRefreshToken", name, err)
		}
	}
	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 0 {
		t.Fatalf("%d token requests, want none", n)
	}
}

func TestTokenSourceRetriesFailedOnRotate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	old := expired(tok, time.Now())
	errStore := errors.New("store down")
	var calls []*client.Token
	ts := c.TokenSource(old, client.OnRotate(func(ctx context.Context, prev, next *client.Token) error {
		if prev != old {
			t.Error("OnRotate prev is not the old token")
		}
		calls = append(calls, next)
		if len(calls) == 1 {
			return errStore
		}
		return nil
	}))
	if _, err := ts.Token(t.Context()); !errors.Is(err, errStore) {
		t.Fatalf("Token: %v, want the hook's error", err)
	}
	got, err := ts.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != got || calls[1] != got {
		t.Fatalf("OnRotate calls %d, want two with the same new token", len(calls))
	}
	if n := len(f.srv.Requests(oidctest.EndpointToken)); n != 2 {
		t.Fatalf("%d token requests, want the login and one refresh", n)
	}
	if again, err := ts.Token(t.Context()); err != nil || again != got || len(calls) != 2 {
		t.Fatal("saved token was not served as is")
	}
}

func TestRefreshTimeoutDetachesFromCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, tok := f.login(t, c)
	f.srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: 2 * time.Second}}})
	ts := c.TokenSource(expired(tok, time.Now()), client.RefreshTimeout(100*time.Millisecond))
	start := time.Now()
	_, err := ts.Token(t.Context())
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("Token after %v: %v, want a timeout after 100ms", time.Since(start), err)
	}
	wantIs(t, err, context.DeadlineExceeded)
}
