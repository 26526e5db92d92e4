package oidctest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

func TestFaultIDTokenClaims(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{IDTokenClaims: func(c map[string]any) {
		c["iss"] = "https://evil.example"
		c["aud"] = []string{appID, "other"}
		delete(c, "nonce")
	}})
	tk := login(t, srv, nil)
	// The edits are signed: only the verifier's claim checks can catch them.
	claims := verifyJWT(t, srv, tk.IDToken)
	wantClaims(t, claims, map[string]any{"iss": "https://evil.example", "aud": []string{appID, "other"}, "sub": "ada"}, "nonce")
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), map[string]any{"iss": srv.Issuer})
}

func TestFaultIDTokenHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(h map[string]any)
		// check inspects the token.
		check func(t *testing.T, srv *oidctest.Server, tok string)
	}{
		{"alg none", func(h map[string]any) { h["alg"] = "none" }, func(t *testing.T, _ *oidctest.Server, tok string) {
			if !strings.HasSuffix(tok, ".") {
				t.Errorf("token %q has a signature", tok)
			}
			header, claims := decodeJWT(t, tok)
			wantClaims(t, header, map[string]any{"alg": "none"})
			wantClaims(t, claims, map[string]any{"sub": "ada", "nonce": defaultNonce})
		}},
		{"alg HS256", func(h map[string]any) { h["alg"] = "HS256" }, func(t *testing.T, _ *oidctest.Server, tok string) {
			wantClaims(t, verifyHS256(t, tok, appSecret), map[string]any{"sub": "ada"})
		}},
		{"alg ES256", func(h map[string]any) { h["alg"] = "ES256" }, func(t *testing.T, srv *oidctest.Server, tok string) {
			header, _ := decodeJWT(t, tok)
			wantClaims(t, header, map[string]any{"alg": "ES256"})
			verifyJWT(t, srv, tok) // signed by, and naming, the server's ES256 key
		}},
		{"crit", func(h map[string]any) { h["crit"] = []string{"exp"} }, func(t *testing.T, srv *oidctest.Server, tok string) {
			header, _ := decodeJWT(t, tok)
			wantClaims(t, header, map[string]any{"crit": []string{"exp"}, "alg": "RS256"})
		}},
		{"kid", func(h map[string]any) { h["kid"] = "unknown" }, func(t *testing.T, srv *oidctest.Server, tok string) {
			header, _ := decodeJWT(t, tok)
			wantClaims(t, header, map[string]any{"kid": "unknown"})
			if _, err := verifyWithJWKS(fetchJWKS(t, srv), tok); err == nil {
				t.Error("token with an unknown kid verifies")
			}
		}},
		{"kid and alg", func(h map[string]any) { h["alg"], h["kid"] = "ES256", "eddsa-1" }, func(t *testing.T, srv *oidctest.Server, tok string) {
			header, _ := decodeJWT(t, tok)
			wantClaims(t, header, map[string]any{"kid": "eddsa-1", "alg": "ES256"})
		}},
		{"alg none drops the kid", func(h map[string]any) { h["alg"] = "none" }, func(t *testing.T, srv *oidctest.Server, tok string) {
			header, _ := decodeJWT(t, tok)
			wantClaims(t, header, map[string]any{"alg": "none"}, "kid")
		}},
		{"typ", func(h map[string]any) { delete(h, "typ") }, func(t *testing.T, srv *oidctest.Server, tok string) {
			header, _ := decodeJWT(t, tok)
			wantClaims(t, header, nil, "typ")
			verifyJWT(t, srv, tok)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			srv.SetFaults(oidctest.Faults{IDTokenHeader: tt.edit})
			tk := login(t, srv, nil)
			tt.check(t, srv, tk.IDToken)
			verifyJWT(t, srv, tk.AccessToken) // untouched
		})
	}
}

func TestFaultCorruptIDTokenSignature(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{SigningAlg: alg})
			srv.SetFaults(oidctest.Faults{CorruptIDTokenSignature: true})
			tk := login(t, srv, nil)
			if _, err := verifyWithJWKS(fetchJWKS(t, srv), tk.IDToken); err == nil {
				t.Fatal("corrupt ID token verifies")
			}
			header, claims := decodeJWT(t, tk.IDToken)
			wantClaims(t, header, map[string]any{"alg": alg})
			wantClaims(t, claims, map[string]any{"iss": srv.Issuer, "sub": "ada", "aud": appID, "nonce": defaultNonce})
			verifyJWT(t, srv, tk.AccessToken)
		})
	}
}

func TestFaultAccessToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{
		AccessTokenClaims: func(c map[string]any) { c["aud"] = "https://other.example"; c["scope"] = "admin" },
		AccessTokenHeader: func(h map[string]any) { h["typ"] = "JWT" },
	})
	tk := wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm()))
	header, _ := decodeJWT(t, tk.AccessToken)
	wantClaims(t, header, map[string]any{"typ": "JWT"})
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), map[string]any{"aud": "https://other.example", "scope": "admin"})
}

func TestFaultAccessTokenAlg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg   string
		check func(t *testing.T, srv *oidctest.Server, tok string)
	}{
		{"none", func(t *testing.T, _ *oidctest.Server, tok string) {
			if !strings.HasSuffix(tok, ".") {
				t.Errorf("token %q has a signature", tok)
			}
		}},
		{"HS256", func(t *testing.T, _ *oidctest.Server, tok string) { verifyHS256(t, tok, appSecret) }},
		{"EdDSA", func(t *testing.T, srv *oidctest.Server, tok string) { verifyJWT(t, srv, tok) }},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			srv.SetFaults(oidctest.Faults{AccessTokenHeader: func(h map[string]any) { h["alg"] = tt.alg }})
			tk := wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm()))
			tt.check(t, srv, tk.AccessToken)
		})
	}
}

func TestFaultAuthorizationResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(url.Values)
		check func(t *testing.T, q url.Values)
	}{
		{"iss removed", func(p url.Values) { p.Del("iss") }, func(t *testing.T, q url.Values) {
			if q.Has("iss") || q.Get("code") == "" {
				t.Errorf("response %v: want a code without iss", q)
			}
		}},
		{"wrong iss", func(p url.Values) { p.Set("iss", "https://evil.example") }, func(t *testing.T, q url.Values) {
			if q.Get("iss") != "https://evil.example" {
				t.Errorf("iss = %q, want the fault's", q.Get("iss"))
			}
		}},
		{"state changed", func(p url.Values) { p.Set("state", "other") }, func(t *testing.T, q url.Values) {
			if q.Get("state") != "other" {
				t.Errorf("state = %q, want other", q.Get("state"))
			}
		}},
		{"error instead of code", func(p url.Values) { p.Del("code"); p.Set("error", "access_denied") }, func(t *testing.T, q url.Values) {
			if q.Get("error") != "access_denied" || q.Has("code") {
				t.Errorf("response %v, want access_denied", q)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			srv.SetFaults(oidctest.Faults{AuthorizationResponse: tt.edit})
			tt.check(t, authorize(t, srv, authParams(appID, newPKCE())))
		})
	}
}

func TestFaultAuthorizationResponseFormPost(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{AuthorizationResponse: func(p url.Values) { p.Del("iss") }})
	params := authParams(appID, newPKCE())
	params.Set("response_mode", "form_post")
	res := getAuthorize(t, srv, newBrowser(t), params)
	if body := string(res.body); strings.Contains(body, `name="iss"`) || !strings.Contains(body, `name="code"`) {
		t.Errorf("form post: want code without iss: %s", body)
	}
}

func TestFaultTokenResponse(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{TokenResponse: func(b map[string]any) {
		delete(b, "id_token")
		b["token_type"] = "DPoP"
		b["expires_in"] = "soon"
	}})
	pk := newPKCE()
	res := post(t, srv, "/token", appAuth, codeForm(authCode(t, srv, authParams(appID, pk)), pk.verifier))
	body := res.json(t)
	if res.status != http.StatusOK || body["token_type"] != "DPoP" || body["expires_in"] != "soon" || body["id_token"] != nil {
		t.Errorf("status %d body %v: want the edited response", res.status, body)
	}
	if body["access_token"] == nil || body["refresh_token"] == nil {
		t.Errorf("body %v: unedited fields are missing", body)
	}
}

func TestFaultUserinfoClaims(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{UserinfoClaims: func(c map[string]any) { c["sub"] = "mallory" }})
	claims := userinfo(t, srv, "Bearer "+login(t, srv, nil).AccessToken).json(t)
	wantClaims(t, claims, map[string]any{"sub": "mallory", "name": "Ada Lovelace"})
}

func TestFaultDiscovery(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{Discovery: func(doc map[string]any) {
		doc["issuer"] = "https://evil.example"
		delete(doc, "jwks_uri")
	}})
	doc := get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration").json(t)
	wantClaims(t, doc, map[string]any{"issuer": "https://evil.example"}, "jwks_uri")
	if srv.Metadata()["issuer"] != srv.Issuer {
		t.Error("Metadata shows the Discovery edit")
	}
}

func TestFaultEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint string
		failure  oidctest.Failure
		path     string
		status   int
		ct, body string
	}{
		{"JSON error", oidctest.EndpointDiscovery, oidctest.Failure{Status: 503, Body: `{"error":"temporarily_unavailable"}`},
			"/.well-known/openid-configuration", 503, "application/json", `{"error":"temporarily_unavailable"}`},
		{"other content type", oidctest.EndpointJWKS, oidctest.Failure{Status: 500, Body: "boom", ContentType: "text/plain"},
			"/jwks", 500, "text/plain", "boom"},
		{"other endpoints unaffected", oidctest.EndpointToken, oidctest.Failure{Status: 500},
			"/jwks", 200, "application/json", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{tt.endpoint: tt.failure}})
			res := get(t, srv.Client(), srv.Issuer+tt.path)
			if res.status != tt.status || res.header.Get("Content-Type") != tt.ct {
				t.Errorf("status %d, Content-Type %q; want %d, %q", res.status, res.header.Get("Content-Type"), tt.status, tt.ct)
			}
			if tt.body != "" && string(res.body) != tt.body {
				t.Errorf("body %q, want %q", res.body, tt.body)
			}
		})
	}
}

func TestFaultEndpointTokenFailure(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointToken: {Status: http.StatusBadRequest, Body: `{"error":"invalid_grant"}`},
	}})
	pk := newPKCE()
	code := authCode(t, srv, authParams(appID, pk))
	wantOAuthError(t, post(t, srv, "/token", appAuth, codeForm(code, pk.verifier)), http.StatusBadRequest, "invalid_grant")
	if n := len(srv.Requests(oidctest.EndpointToken)); n != 1 {
		t.Errorf("recorded %d token requests, want 1", n)
	}
	// The fault answered before the real endpoint saw the code.
	srv.SetFaults(oidctest.Faults{})
	exchange(t, srv, appAuth, code, pk.verifier)
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	tests := []struct {
		name    string
		failure oidctest.Failure
		status  int
	}{
		{"then the real response", oidctest.Failure{Delay: delay}, http.StatusOK},
		{"then the failure", oidctest.Failure{Delay: delay, Status: http.StatusBadGateway}, http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointJWKS: tt.failure}})
			start := time.Now()
			res := get(t, srv.Client(), srv.Issuer+"/jwks")
			if elapsed := time.Since(start); elapsed < delay {
				t.Errorf("answered after %v, want at least %v", elapsed, delay)
			}
			if res.status != tt.status {
				t.Errorf("status %d, want %d", res.status, tt.status)
			}
		})
	}
}

// TestFaultDelayEndsWithClient checks that a delayed handler returns when
// the client gives up: Close, which waits for handlers, returns well
// before the delay is over.
func TestFaultDelayEndsWithClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{oidctest.EndpointToken: {Delay: 30 * time.Second}}})
	client := *srv.Client()
	client.Timeout = 50 * time.Millisecond
	req, _ := http.NewRequest(http.MethodPost, srv.Issuer+"/token", strings.NewReader(clientCredentialsForm().Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(appID, appSecret)
	if _, err := do(&client, req); err == nil {
		t.Fatal("request succeeded, want the client's timeout")
	}
	closed := make(chan struct{})
	go func() {
		srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waits for the delayed handler")
	}
}

func TestSetFaultsRestores(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	srv.SetFaults(oidctest.Faults{
		IDTokenClaims:           func(c map[string]any) { c["iss"] = "x" },
		IDTokenHeader:           func(h map[string]any) { h["alg"] = "none" },
		CorruptIDTokenSignature: true,
		AccessTokenClaims:       func(c map[string]any) { c["iss"] = "x" },
		AuthorizationResponse:   func(p url.Values) { p.Del("iss") },
		TokenResponse:           func(b map[string]any) { delete(b, "refresh_token") },
		UserinfoClaims:          func(c map[string]any) { c["sub"] = "x" },
		Discovery:               func(d map[string]any) { d["issuer"] = "x" },
		Endpoints:               map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: 500}},
	})
	srv.SetFaults(oidctest.Faults{})

	q := authorize(t, srv, authParams(appID, newPKCE()))
	if q.Get("iss") != srv.Issuer {
		t.Errorf("iss = %q after restore", q.Get("iss"))
	}
	tk := login(t, srv, nil)
	if tk.RefreshToken == "" {
		t.Error("no refresh token after restore")
	}
	wantClaims(t, verifyJWT(t, srv, tk.IDToken), map[string]any{"iss": srv.Issuer})
	wantClaims(t, verifyJWT(t, srv, tk.AccessToken), map[string]any{"iss": srv.Issuer})
	wantClaims(t, userinfo(t, srv, "Bearer "+tk.AccessToken).json(t), map[string]any{"sub": "ada"})
	wantClaims(t, get(t, srv.Client(), srv.Issuer+"/.well-known/openid-configuration").json(t), map[string]any{"issuer": srv.Issuer})
}
