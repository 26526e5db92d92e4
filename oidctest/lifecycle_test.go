package oidctest_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// TestInteractiveLoginExpires: a login form left open for more than ten
// minutes cannot be submitted.
func TestInteractiveLoginExpires(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Interactive: true, Now: clk.Now})
	browser := newBrowser(t)
	id := loginFormID(t, getAuthorize(t, srv, browser, authParams(appID, newPKCE())))
	clk.Advance(10*time.Minute + time.Second)
	wantErrorPage(t, submitLogin(t, srv, browser, id, "ada", "lovelace"), "invalid_request")

	// A fresh form still works.
	id = loginFormID(t, getAuthorize(t, srv, browser, authParams(appID, newPKCE())))
	clk.Advance(9 * time.Minute)
	if p := redirectParams(t, submitLogin(t, srv, browser, id, "ada", "lovelace")); p.Get("code") == "" {
		t.Fatalf("no code after a login within ten minutes: %v", p)
	}
}

// TestPromptWords: prompt is a space-separated list.
func TestPromptWords(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Interactive: true})
	browser := newBrowser(t)
	p := authParams(appID, newPKCE())
	p.Set("prompt", "consent none")
	if got := redirectParams(t, getAuthorize(t, srv, browser, p)); got.Get("error") != "login_required" {
		t.Fatalf("prompt=consent none without a session: %v, want login_required", got)
	}
}

// TestCloseEndsDelays: Close does not wait out a Failure.Delay.
func TestCloseEndsDelays(t *testing.T) {
	t.Parallel()
	srv := oidctest.NewServer(oidctest.Config{})
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointJWKS: {Delay: time.Minute},
	}})
	go func() {
		// A client that never gives up.
		resp, err := http.Get(srv.Issuer + "/jwks")
		if err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Requests(oidctest.EndpointJWKS)) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the delayed request")
	}
}

// TestRequestsAreCopies: changing what Requests returns does not change
// the record.
func TestRequestsAreCopies(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.Issuer+"/jwks?x=1", nil)
	req.Header.Set("X-Test", "a")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := srv.Requests(oidctest.EndpointJWKS)[0]
	got.Form.Set("x", "changed")
	got.Header.Set("X-Test", "changed")
	got.URL.RawQuery = url.Values{"x": {"changed"}}.Encode()
	again := srv.Requests(oidctest.EndpointJWKS)[0]
	if again.Form.Get("x") != "1" || again.Header.Get("X-Test") != "a" || again.URL.RawQuery != "x=1" {
		t.Fatalf("the record changed: form %v, header %v, query %q", again.Form, again.Header, again.URL.RawQuery)
	}
}
