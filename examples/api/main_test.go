package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/examples/internal/api"
	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
)

const audience = "https://api.example.com"

// provider is an oidctest provider with a client-credentials client.
func provider(t *testing.T) *oidctest.Server {
	t.Helper()
	p := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{ID: "svc", Secret: "s3cret"}}})
	t.Cleanup(p.Close)
	return p
}

// token gets a client-credentials access token for resource with scope.
func token(t *testing.T, p *oidctest.Server, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, p.Issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("svc", "s3cret")
	resp, err := p.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.AccessToken == "" {
		t.Fatalf("token response %d: %v", resp.StatusCode, err)
	}
	return body.AccessToken
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	p := provider(t)
	cfg, err := loadConfig(env(map[string]string{"OIDC_ISSUER": p.Issuer, "API_AUDIENCE": audience}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(t.Context(), api.Config{Issuer: cfg.issuer, Audience: cfg.audience, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	read := token(t, p, audience, "read")
	admin := token(t, p, audience, "read admin")
	otherAPI := token(t, p, "https://other.example.com", "read admin")
	metadataURL := audience + "/.well-known/oauth-protected-resource"

	tests := []struct {
		name      string
		path      string
		header    []string // Authorization values
		status    int
		challenge string // WWW-Authenticate must start with it
		body      string // JSON body must equal it (compact)
	}{
		{"public", "/public", nil, 200, "", `{"message":"public: no token needed"}`},
		{"public with a bad token", "/public", []string{"Bearer x"}, 200, "", `{"message":"public: no token needed"}`},
		{"me without token", "/me", nil, 401, `Bearer resource_metadata="` + metadataURL + `"`, ""},
		{"me", "/me", []string{"Bearer " + read}, 200, "", `{"client_id":"svc","scope":["read"],"sub":"svc"}`},
		{"me, scheme in lower case", "/me", []string{"bearer " + admin}, 200, "", `{"client_id":"svc","scope":["read","admin"],"sub":"svc"}`},
		{"me with a bad token", "/me", []string{"Bearer " + read[:len(read)-4] + "AAAA"}, 401, `Bearer error="invalid_token"`, ""},
		{"me with a token for another API", "/me", []string{"Bearer " + otherAPI}, 401, `Bearer error="invalid_token"`, ""},
		{"me with junk", "/me", []string{"Bearer " + strings.Repeat(".", 100000)}, 401, `Bearer error="invalid_token"`, ""},
		{"me with Basic", "/me", []string{"Basic c3ZjOnMzY3JldA=="}, 401, `Bearer resource_metadata=`, ""},
		{"two Authorization headers", "/me", []string{"Bearer " + read, "Bearer " + read}, 400, `Bearer error="invalid_request"`, ""},
		{"token in the query string", "/me?access_token=" + read, nil, 400, `Bearer error="invalid_request"`, ""},
		{"admin without token", "/admin", nil, 401, `Bearer resource_metadata="` + metadataURL + `"`, ""},
		{"admin without the scope", "/admin", []string{"Bearer " + read}, 403, `Bearer error="insufficient_scope", scope="admin"`, ""},
		{"admin", "/admin", []string{"Bearer " + admin}, 200, "", `{"message":"admin area","sub":"svc"}`},
		{"metadata", "/.well-known/oauth-protected-resource", nil, 200, "",
			`{"resource":"` + audience + `","authorization_servers":["` + p.Issuer + `"],"scopes_supported":["admin"],` +
				`"bearer_methods_supported":["header"],"resource_name":"Keyway example API","dpop_signing_alg_values_supported":["ES256","RS256","PS256","EdDSA"]}`},
		{"unknown route", "/nope", nil, 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			for _, h := range tc.header {
				req.Header.Add("Authorization", h)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "") != (got == "") {
				t.Errorf("WWW-Authenticate %q, want prefix %q", got, tc.challenge)
			}
			switch {
			case tc.body != "":
				var compact bytes.Buffer
				if err := json.Compact(&compact, body); err != nil || compact.String() != tc.body {
					t.Errorf("body %s\nwant %s", body, tc.body)
				}
			case tc.status >= 400 && tc.status != 404:
				var e struct{ Error, ErrorDescription string }
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("error body %s", body)
				}
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	_, err := loadConfig(env(nil))
	if err == nil || !strings.Contains(err.Error(), "OIDC_ISSUER is required") || !strings.Contains(err.Error(), "API_AUDIENCE is required") {
		t.Errorf("missing environment: %v", err)
	}
	c, err := loadConfig(env(map[string]string{"OIDC_ISSUER": "https://id.example.com", "API_AUDIENCE": "api"}))
	if err != nil || c.addr != "127.0.0.1:8081" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	for name, e := range map[string]map[string]string{
		"no environment": nil,
		"http issuer":    {"OIDC_ISSUER": "http://id.example.com", "API_AUDIENCE": audience},
	} {
		if err := run(t.Context(), env(e), io.Discard); err == nil {
			t.Errorf("%s: run succeeded", name)
		}
	}
}

// TestRunShutsDown starts the program on a free port, calls it, and stops
// it as a signal would.
func TestRunShutsDown(t *testing.T) {
	t.Parallel()
	p := provider(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var log testenv.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, env(map[string]string{
			"OIDC_ISSUER": p.Issuer, "API_AUDIENCE": "http://127.0.0.1:8081", "ADDR": "127.0.0.1:0",
		}), &log)
	}()
	listening := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(5 * time.Second); base == ""; time.Sleep(time.Millisecond) {
		if m := listening.FindStringSubmatch(log.String()); m != nil {
			base = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("not listening; log:\n%s", log.String())
		}
	}
	resp, err := http.Get(base + "/me")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 ||
		got != `Bearer resource_metadata="http://127.0.0.1:8081/.well-known/oauth-protected-resource"` {
		t.Errorf("GET /me: %d %q", resp.StatusCode, got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(log.String(), "shutting down") {
		t.Errorf("log:\n%s", log.String())
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
