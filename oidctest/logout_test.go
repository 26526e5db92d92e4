package oidctest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

// interactiveLogin logs the demo user in through the login form in browser
// and returns the tokens.
func interactiveLogin(t testing.TB, srv *oidctest.Server, browser *http.Client) tokens {
	t.Helper()
	pk := newPKCE()
	id := loginFormID(t, getAuthorize(t, srv, browser, authParams(appID, pk)))
	q := redirectParams(t, submitLogin(t, srv, browser, id, "ada", "lovelace"))
	return exchange(t, srv, appAuth, q.Get("code"), pk.verifier)
}

// silentAuthorize sends a prompt=none request from browser and returns the
// response parameters.
func silentAuthorize(t testing.TB, srv *oidctest.Server, browser *http.Client) url.Values {
	t.Helper()
	params := authParams(appID, newPKCE())
	params.Set("prompt", "none")
	return redirectParams(t, getAuthorize(t, srv, browser, params))
}

func endSession(t testing.TB, srv *oidctest.Server, browser *http.Client, params url.Values) response {
	t.Helper()
	return get(t, browser, srv.Issuer+"/end_session?"+params.Encode())
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Interactive: true})
	browser := newBrowser(t)
	tk := interactiveLogin(t, srv, browser)
	if q := silentAuthorize(t, srv, browser); q.Get("code") == "" {
		t.Fatalf("prompt=none before logout: %v, want a code", q)
	}

	res := endSession(t, srv, browser, url.Values{
		"id_token_hint":            {tk.IDToken},
		"post_logout_redirect_uri": {postLogoutURI},
		"state":                    {"bye"},
	})
	if res.status != http.StatusFound {
		t.Fatalf("status %d, want 302: %s", res.status, res.body)
	}
	if loc := res.header.Get("Location"); loc != postLogoutURI+"?state=bye" {
		t.Errorf("Location = %q, want %s?state=bye", loc, postLogoutURI)
	}
	if q := silentAuthorize(t, srv, browser); q.Get("error") != "login_required" {
		t.Errorf("prompt=none after logout: %v, want login_required", q)
	}
}

// TestEndSessionEndsServerSession checks that the session is gone at the
// server, not only the browser's cookie.
func TestEndSessionEndsServerSession(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Interactive: true})
	browser := newBrowser(t)
	interactiveLogin(t, srv, browser)
	u, _ := url.Parse(srv.Issuer + "/authorize")
	cookies := browser.Jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("browser has cookies %v, want the session cookie", cookies)
	}

	endSession(t, srv, browser, nil)

	replay := newBrowser(t)
	replay.Jar.SetCookies(u, cookies)
	if q := silentAuthorize(t, srv, replay); q.Get("error") != "login_required" {
		t.Errorf("prompt=none with the old session cookie: %v, want login_required", q)
	}
}

func TestEndSessionWithoutRedirect(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Interactive: true})
	browser := newBrowser(t)
	interactiveLogin(t, srv, browser)
	res := endSession(t, srv, browser, nil)
	if res.status != http.StatusOK || !strings.Contains(string(res.body), "signed out") {
		t.Errorf("status %d: %s, want the signed-out page", res.status, res.body)
	}
	if q := silentAuthorize(t, srv, browser); q.Get("error") != "login_required" {
		t.Errorf("prompt=none after logout: %v, want login_required", q)
	}
}

func TestEndSessionWithClientID(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	res := endSession(t, srv, newBrowser(t), url.Values{"client_id": {appID}, "post_logout_redirect_uri": {postLogoutURI}})
	if res.status != http.StatusFound || res.header.Get("Location") != postLogoutURI {
		t.Errorf("status %d Location %q, want 302 to %s", res.status, res.header.Get("Location"), postLogoutURI)
	}
}

func TestEndSessionRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params func(idToken string) url.Values
	}{
		{"unregistered post_logout_redirect_uri", func(idt string) url.Values {
			return url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://127.0.0.1:9/evil"}}
		}},
		{"redirect URI instead of post-logout URI", func(idt string) url.Values {
			return url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {redirectURI}}
		}},
		{"post_logout_redirect_uri without client", func(string) url.Values {
			return url.Values{"post_logout_redirect_uri": {postLogoutURI}}
		}},
		{"unknown id_token_hint", func(idt string) url.Values {
			return url.Values{"id_token_hint": {idt + "x"}, "post_logout_redirect_uri": {postLogoutURI}}
		}},
		{"id_token_hint for another client", func(idt string) url.Values {
			return url.Values{"id_token_hint": {idt}, "client_id": {spaID}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{Interactive: true})
			browser := newBrowser(t)
			tk := interactiveLogin(t, srv, browser)
			wantErrorPage(t, endSession(t, srv, browser, tt.params(tk.IDToken)), "invalid_request")
			// A refused logout leaves the session alone.
			if q := silentAuthorize(t, srv, browser); q.Get("code") == "" {
				t.Errorf("prompt=none after a refused logout: %v, want a code", q)
			}
		})
	}
}

func TestLogoutClaims(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	tests := []struct {
		name, sub, sid string
		absent         []string
	}{
		{"sub and sid", "ada", "s1", []string{"nonce"}},
		{"sub only", "ada", "", []string{"nonce", "sid"}},
		{"sid only", "", "s1", []string{"nonce", "sub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := srv.LogoutClaims(appID, tt.sub, tt.sid)
			if jti, _ := claims["jti"].(string); jti == "" {
				t.Error("no jti")
			}
			want := map[string]any{
				"iss":    srv.Issuer,
				"aud":    appID,
				"iat":    clk.Now().Unix(),
				"exp":    clk.Now().Add(2 * time.Minute).Unix(),
				"events": map[string]any{oidctest.BackchannelLogoutEvent: map[string]any{}},
			}
			if tt.sub != "" {
				want["sub"] = tt.sub
			}
			if tt.sid != "" {
				want["sid"] = tt.sid
			}
			wantClaims(t, claims, want, tt.absent...)
		})
	}
	if oidctest.BackchannelLogoutEvent != "http://schemas.openid.net/event/backchannel-logout" {
		t.Errorf("BackchannelLogoutEvent = %s", oidctest.BackchannelLogoutEvent)
	}
}

// logoutReceiver is a client's back-channel logout endpoint that verifies
// logout tokens against the server's JWKS.
type logoutReceiver struct {
	*httptest.Server
	status int
	tokens chan map[string]any // verified claims
}

func newLogoutReceiver(t testing.TB, srv *oidctest.Server, status int, verify func(tok string) (map[string]any, error)) *logoutReceiver {
	t.Helper()
	lr := &logoutReceiver{status: status, tokens: make(chan map[string]any, 1)}
	lr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PostFormValue("logout_token")
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			http.Error(w, "want a form POST", http.StatusBadRequest)
			return
		}
		claims, err := verify(tok)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		lr.tokens <- claims
		w.WriteHeader(lr.status)
	}))
	t.Cleanup(lr.Close)
	return lr
}

// jwksVerifier verifies logout tokens against the server's JWKS, and
// wants typ logout+jwt.
func jwksVerifier(t testing.TB, srv *oidctest.Server) func(string) (map[string]any, error) {
	set := fetchJWKS(t, srv)
	return func(tok string) (map[string]any, error) {
		claims, err := verifyWithJWKS(set, tok)
		if err != nil {
			return nil, err
		}
		return claims, checkLogoutTyp(tok)
	}
}

func checkLogoutTyp(tok string) error {
	seg, _, _ := strings.Cut(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	var h struct{ Typ string }
	if err := json.Unmarshal(b, &h); err != nil {
		return err
	}
	if h.Typ != "logout+jwt" {
		return fmt.Errorf("typ %q, want logout+jwt", h.Typ)
	}
	return nil
}

func registerLogoutURI(t testing.TB, srv *oidctest.Server, uri string) {
	t.Helper()
	c := appClient()
	c.BackchannelLogoutURI = uri
	if err := srv.AddClient(c); err != nil {
		t.Fatal(err)
	}
}

func TestSendBackchannelLogout(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{oidctest.RS256, oidctest.ES256, oidctest.EdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{SigningAlg: alg})
			idt := verifyJWT(t, srv, login(t, srv, nil).IDToken)
			rp := newLogoutReceiver(t, srv, http.StatusOK, jwksVerifier(t, srv))
			registerLogoutURI(t, srv, rp.URL)

			if err := srv.SendBackchannelLogout(t.Context(), appID, "ada", idt["sid"].(string)); err != nil {
				t.Fatalf("SendBackchannelLogout: %v", err)
			}
			claims := <-rp.tokens
			wantClaims(t, claims, map[string]any{
				"iss":    srv.Issuer,
				"aud":    appID,
				"sub":    "ada",
				"sid":    idt["sid"],
				"events": map[string]any{oidctest.BackchannelLogoutEvent: map[string]any{}},
			}, "nonce")
		})
	}
}

func TestSendBackchannelLogoutHS256(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{SigningAlg: oidctest.HS256})
	rp := newLogoutReceiver(t, srv, http.StatusOK, func(tok string) (map[string]any, error) {
		claims, err := checkHS256(tok, appSecret)
		if err != nil {
			return nil, err
		}
		return claims, checkLogoutTyp(tok)
	})
	registerLogoutURI(t, srv, rp.URL)
	if err := srv.SendBackchannelLogout(t.Context(), appID, "ada", ""); err != nil {
		t.Fatalf("SendBackchannelLogout: %v", err)
	}
	wantClaims(t, <-rp.tokens, map[string]any{"sub": "ada"}, "sid")
}

func TestSendBackchannelLogoutFailures(t *testing.T) {
	t.Parallel()
	t.Run("client answers 400", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		rp := newLogoutReceiver(t, srv, http.StatusBadRequest, jwksVerifier(t, srv))
		registerLogoutURI(t, srv, rp.URL)
		err := srv.SendBackchannelLogout(t.Context(), appID, "ada", "")
		if err == nil || !strings.Contains(err.Error(), "status 400") {
			t.Errorf("SendBackchannelLogout: %v, want an error naming status 400", err)
		}
	})
	t.Run("client without BackchannelLogoutURI", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		if err := srv.SendBackchannelLogout(t.Context(), appID, "ada", ""); err == nil {
			t.Error("SendBackchannelLogout succeeded")
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		if _, err := srv.PostLogoutToken(t.Context(), "nobody", "x"); err == nil {
			t.Error("PostLogoutToken succeeded")
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, oidctest.Config{})
		rp := newLogoutReceiver(t, srv, http.StatusOK, jwksVerifier(t, srv))
		registerLogoutURI(t, srv, rp.URL)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := srv.SendBackchannelLogout(ctx, appID, "ada", ""); err == nil {
			t.Error("SendBackchannelLogout succeeded with a canceled context")
		}
	})
}

// TestPostLogoutToken checks that a hand-made token is posted as is and
// the client's status returned.
func TestPostLogoutToken(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusOK, http.StatusBadRequest, http.StatusNotImplemented} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			rp := newLogoutReceiver(t, srv, status, jwksVerifier(t, srv))
			registerLogoutURI(t, srv, rp.URL)
			claims := srv.LogoutClaims(appID, "", "s-1")
			claims["nonce"] = "forbidden"
			tok, err := srv.Sign(claims, oidctest.SignOptions{Type: "logout+jwt"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := srv.PostLogoutToken(t.Context(), appID, tok)
			if err != nil || got != status {
				t.Fatalf("PostLogoutToken = %d, %v; want %d", got, err, status)
			}
			wantClaims(t, <-rp.tokens, map[string]any{"nonce": "forbidden", "sid": "s-1"})
		})
	}
}

func TestPostLogoutTokenWrongTyp(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	rp := newLogoutReceiver(t, srv, http.StatusOK, jwksVerifier(t, srv))
	registerLogoutURI(t, srv, rp.URL)
	tok, err := srv.Sign(srv.LogoutClaims(appID, "ada", ""), oidctest.SignOptions{Type: "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := srv.PostLogoutToken(t.Context(), appID, tok); err != nil || got != http.StatusBadRequest {
		t.Errorf("PostLogoutToken = %d, %v; want the receiver's 400", got, err)
	}
}
