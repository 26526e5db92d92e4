package oidctest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// push sends a pushed authorization request and returns its request_uri.
func push(t testing.TB, srv *oidctest.Server, auth clientAuth, params url.Values) string {
	t.Helper()
	res := post(t, srv, "/par", auth, params)
	if res.status != http.StatusCreated {
		t.Fatalf("PAR: status %d, want 201: %s", res.status, res.body)
	}
	uri, _ := res.json(t)["request_uri"].(string)
	if uri == "" {
		t.Fatalf("PAR: no request_uri: %s", res.body)
	}
	return uri
}

func parAuthorization(clientID, requestURI string) url.Values {
	return url.Values{"client_id": {clientID}, "request_uri": {requestURI}}
}

func TestPAR(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	pk := newPKCE()
	params := authParams(appID, pk)
	params.Set("state", "pushed-state")
	res := post(t, srv, "/par", appAuth, params)
	if res.status != http.StatusCreated {
		t.Fatalf("status = %d, want 201: %s", res.status, res.body)
	}
	body := res.json(t)
	uri, _ := body["request_uri"].(string)
	if !strings.HasPrefix(uri, "urn:ietf:params:oauth:request_uri:") {
		t.Errorf("request_uri = %q, want a urn:ietf:params:oauth:request_uri: URN", uri)
	}
	if body["expires_in"] != float64(60) {
		t.Errorf("expires_in = %v, want 60 (the default CodeTTL)", body["expires_in"])
	}

	q := authorize(t, srv, parAuthorization(appID, uri))
	if q.Get("state") != "pushed-state" || q.Get("iss") != srv.Issuer {
		t.Errorf("response %v, want the pushed state and iss", q)
	}
	claims := verifyJWT(t, srv, exchange(t, srv, appAuth, q.Get("code"), pk.verifier).IDToken)
	if claims["nonce"] != defaultNonce {
		t.Errorf("nonce = %v, want the pushed %s", claims["nonce"], defaultNonce)
	}

	second := getAuthorize(t, srv, newBrowser(t), parAuthorization(appID, uri))
	wantErrorPage(t, second, "invalid_request_uri")
}

func TestPARWithoutClientIDInBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	params := authParams(appID, newPKCE())
	params.Del("client_id") // client_secret_basic names the client
	uri := push(t, srv, appAuth, params)
	if q := authorize(t, srv, parAuthorization(appID, uri)); q.Get("code") == "" {
		t.Errorf("response %v, want a code", q)
	}
}

func TestPARRejectsPush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		auth   clientAuth
		edit   func(url.Values)
		status int
		code   string
	}{
		{"request_uri inside", appAuth, set("request_uri", "urn:ietf:params:oauth:request_uri:x"), http.StatusBadRequest, "invalid_request"},
		{"no client authentication", nil, func(url.Values) {}, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", secretBasic(appID, "wrong"), func(url.Values) {}, http.StatusUnauthorized, "invalid_client"},
		{"unregistered redirect_uri", appAuth, set("redirect_uri", "http://127.0.0.1:9/evil"), http.StatusBadRequest, "invalid_request"},
		{"plain PKCE", appAuth, set("code_challenge_method", "plain"), http.StatusBadRequest, "invalid_request"},
		{"response_type token", appAuth, set("response_type", "token"), http.StatusBadRequest, "unsupported_response_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			tt.edit(params)
			wantOAuthError(t, post(t, srv, "/par", tt.auth, params), tt.status, tt.code)
		})
	}
	t.Run("GET", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		wantOAuthError(t, get(t, srv.Client(), srv.Issuer+"/par"), http.StatusMethodNotAllowed, "invalid_request")
	})
}

func TestPARRequestURIBelongsToItsClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	uri := push(t, srv, appAuth, authParams(appID, newPKCE()))
	for _, clientID := range []string{spaID, ""} {
		res := getAuthorize(t, srv, newBrowser(t), parAuthorization(clientID, uri))
		wantErrorPage(t, res, "invalid_request_uri")
	}
	// The failed attempts did not use the request up.
	if q := authorize(t, srv, parAuthorization(appID, uri)); q.Get("code") == "" {
		t.Errorf("response %v, want a code", q)
	}
}

func TestPARExpires(t *testing.T) {
	t.Parallel()
	tests := []struct {
		elapsed time.Duration
		ok      bool
	}{
		{59 * time.Second, true},
		{60 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.elapsed.String(), func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := newServer(t, oidctest.Config{Now: clk.Now})
			uri := push(t, srv, appAuth, authParams(appID, newPKCE()))
			clk.Advance(tt.elapsed)
			res := getAuthorize(t, srv, newBrowser(t), parAuthorization(appID, uri))
			if tt.ok {
				redirectParams(t, res)
			} else {
				wantErrorPage(t, res, "invalid_request_uri")
			}
		})
	}
}

func TestRequirePAR(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{RequirePAR: true})
	q := authorize(t, srv, authParams(appID, newPKCE()))
	if q.Get("error") != "invalid_request" || q.Get("state") != defaultState || q.Get("iss") != srv.Issuer || q.Has("code") {
		t.Errorf("plain request: %v, want invalid_request with state and iss", q)
	}
	uri := push(t, srv, appAuth, authParams(appID, newPKCE()))
	if q := authorize(t, srv, parAuthorization(appID, uri)); q.Get("code") == "" {
		t.Errorf("pushed request: %v, want a code", q)
	}
}

func TestPARPublicClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	pk := newPKCE()
	uri := push(t, srv, spaAuth, authParams(spaID, pk))
	q := authorize(t, srv, parAuthorization(spaID, uri))
	exchange(t, srv, spaAuth, q.Get("code"), pk.verifier)
}
