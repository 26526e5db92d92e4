package interop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// These tests prove the bed itself: the provider starts, announces what Keyway
// relies on, and the grants work with plain golang.org/x/oauth2.

func TestProviderDiscovery(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)

	if d.Issuer != p.Issuer {
		t.Errorf("issuer = %q, want the ready line's %q", d.Issuer, p.Issuer)
	}
	if !d.AuthorizationResponseISSParameterSupported {
		t.Error("authorization_response_iss_parameter_supported is not true")
	}
	for name, endpoint := range map[string]string{
		"authorization_endpoint": d.AuthorizationEndpoint,
		"token_endpoint":         d.TokenEndpoint,
		"jwks_uri":               d.JWKSURI,
		"registration_endpoint":  d.RegistrationEndpoint,
		"revocation_endpoint":    d.RevocationEndpoint,
		"introspection_endpoint": d.IntrospectionEndpoint,
		"end_session_endpoint":   d.EndSessionEndpoint,
	} {
		if !strings.HasPrefix(endpoint, p.Issuer+"/") {
			t.Errorf("%s = %q, want a URL under the issuer", name, endpoint)
		}
	}
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cfg := clientcredentials.Config{
		ClientID:     "service",
		ClientSecret: "service-secret",
		TokenURL:     d.TokenEndpoint,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}

	t.Run("opaque without resource", func(t *testing.T) {
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok.AccessToken == "" || strings.Count(tok.AccessToken, ".") == 2 {
			t.Errorf("access token = %q, want an opaque token", tok.AccessToken)
		}
	})

	t.Run("JWT for a resource", func(t *testing.T) {
		const resource = "http://127.0.0.1:9/api"
		cfg := cfg
		cfg.Scopes = []string{"api:read"}
		cfg.EndpointParams = url.Values{"resource": {resource}}
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		header, claims := decodeJWT(t, tok.AccessToken)
		if header["typ"] != "at+jwt" {
			t.Errorf("typ = %v, want at+jwt", header["typ"])
		}
		if claims["aud"] != resource {
			t.Errorf("aud = %v, want %q", claims["aud"], resource)
		}
		if claims["iss"] != p.Issuer || claims["client_id"] != "service" || claims["scope"] != "api:read" {
			t.Errorf("claims = %v, want iss %q, client_id service, scope api:read", claims, p.Issuer)
		}
	})

	t.Run("unknown resource", func(t *testing.T) {
		cfg := cfg
		cfg.EndpointParams = url.Values{"resource": {"https://api.example.com/"}}
		_, err := cfg.Token(ctx)
		if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.ErrorCode != "invalid_target" {
			t.Errorf("err = %v, want invalid_target", err)
		}
	})
}

func TestAuthorizationCodePKCE(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)
	redirectURI := unusedCallback(t)
	clientID, secret := p.registerClient(t, map[string]any{
		"redirect_uris": []string{redirectURI},
		"grant_types":   []string{"authorization_code", "refresh_token"},
	})
	cfg := codeConfig(d, clientID, secret, redirectURI, "openid", "profile", "email", "offline_access")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	callback := p.login(t, nil, cfg.AuthCodeURL(state,
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("nonce", nonce),
		oauth2.SetAuthURLParam("prompt", "consent"), // or offline_access is dropped
	), "ada")

	q := callback.Query()
	if got := callback.Scheme + "://" + callback.Host + callback.Path; got != redirectURI {
		t.Errorf("redirected to %q, want %q", got, redirectURI)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != p.Issuer {
		t.Errorf("iss = %q, want %q", q.Get("iss"), p.Issuer)
	}

	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	if idToken == "" {
		t.Fatal("no id_token in the token response")
	}
	_, claims := decodeJWT(t, idToken)
	if claims["iss"] != p.Issuer || claims["aud"] != clientID || claims["sub"] != "ada" || claims["nonce"] != nonce {
		t.Errorf("id token claims = %v, want iss %q, aud %q, sub ada, nonce %q", claims, p.Issuer, clientID, nonce)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access with prompt=consent")
	}

	// Refresh rotates the refresh token.
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Errorf("refresh token after refresh = %q, want a new one (rotation)", refreshed.RefreshToken)
	}

	// Reusing a rotated refresh token is taken as theft: the whole grant is revoked.
	for _, rt := range []string{tok.RefreshToken, refreshed.RefreshToken} {
		_, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: rt}).Token()
		if re := (*oauth2.RetrieveError)(nil); !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Errorf("refresh after reuse: err = %v, want invalid_grant", err)
		}
	}
}

// TestAuthorizationCodeResource checks that a resource asked for at the
// authorization endpoint is used for the code's and the refreshed access tokens,
// with no resource at the token endpoint and openid in the scope.
func TestAuthorizationCodeResource(t *testing.T) {
	t.Parallel()
	const resource = "urn:keyway:api"
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)
	redirectURI := unusedCallback(t)
	clientID, secret := p.registerClient(t, map[string]any{
		"redirect_uris": []string{redirectURI},
		"grant_types":   []string{"authorization_code", "refresh_token"},
	})
	cfg := codeConfig(d, clientID, secret, redirectURI, "openid", "offline_access", "api:read")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	verifier := oauth2.GenerateVerifier()
	callback := p.login(t, nil, cfg.AuthCodeURL(rand.Text(),
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("prompt", "consent"),
		oauth2.SetAuthURLParam("resource", resource),
	), "ada")
	tok, err := cfg.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]*oauth2.Token{"code": tok, "refresh": refreshed} {
		header, claims := decodeJWT(t, tok.AccessToken)
		if header["typ"] != "at+jwt" || claims["aud"] != resource || claims["scope"] != "api:read" || claims["sub"] != "ada" {
			t.Errorf("%s: access token %v %v, want at+jwt for %q with scope api:read, sub ada", name, header, claims, resource)
		}
	}
}

// TestNativeLoopbackAnyPort checks what the cli client relies on: a native client's
// registered loopback redirect URI without a port matches any port.
func TestNativeLoopbackAnyPort(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)
	cfg := codeConfig(d, "cli", "", unusedCallback(t), "openid")
	verifier := oauth2.GenerateVerifier()
	callback := p.login(t, nil, cfg.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(verifier)), "grace")

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tok, err := cfg.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := tok.Extra("id_token").(string); id == "" {
		t.Error("no id_token in the token response")
	}
}

// TestBackchannelLogout checks that RP-initiated logout reaches a loopback
// back-channel logout URI (oidc-provider refuses loopback fetches by default).
func TestBackchannelLogout(t *testing.T) {
	t.Parallel()
	p := startProvider(t, providerOptions{})
	d := p.discovery(t)
	logoutTokens := make(chan string, 1)
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/backchannel-logout" {
			http.NotFound(w, r)
			return
		}
		select {
		case logoutTokens <- r.PostFormValue("logout_token"):
		default:
		}
		w.Header().Set("Cache-Control", "no-store")
	}))
	t.Cleanup(rp.Close)
	clientID, secret := p.registerClient(t, map[string]any{
		"redirect_uris":                       []string{rp.URL + "/callback"},
		"post_logout_redirect_uris":           []string{rp.URL + "/"},
		"backchannel_logout_uri":              rp.URL + "/backchannel-logout",
		"backchannel_logout_session_required": true, // else the logout token has no sid
	})
	cfg := codeConfig(d, clientID, secret, rp.URL+"/callback", "openid")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	browser := newBrowser(t)
	verifier := oauth2.GenerateVerifier()
	callback := p.login(t, browser, cfg.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(verifier)), "ada")
	tok, err := cfg.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idToken, _ := tok.Extra("id_token").(string)
	_, idClaims := decodeJWT(t, idToken)

	after := p.logout(t, browser, d.EndSessionEndpoint+"?"+url.Values{
		"id_token_hint":            {idToken},
		"post_logout_redirect_uri": {rp.URL + "/"},
		"state":                    {"bye"},
	}.Encode())
	if want := rp.URL + "/?state=bye"; after.String() != want {
		t.Errorf("after logout: redirected to %q, want %q", after, want)
	}

	select {
	case logoutToken := <-logoutTokens:
		_, claims := decodeJWT(t, logoutToken)
		events, _ := claims["events"].(map[string]any)
		if _, ok := events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
			t.Errorf("logout token events = %v, want the back-channel logout event", claims["events"])
		}
		if claims["iss"] != p.Issuer || claims["aud"] != clientID || claims["sub"] != "ada" {
			t.Errorf("logout token claims = %v, want iss %q, aud %q, sub ada", claims, p.Issuer, clientID)
		}
		if sid := idClaims["sid"]; sid == nil || claims["sid"] != sid {
			t.Errorf("logout token sid = %v, want the ID token's sid %v", claims["sid"], sid)
		}
	default:
		t.Fatal("no back-channel logout request before the logout redirect")
	}
}

// codeConfig returns an x/oauth2 configuration for the authorization code grant;
// an empty secret means a public client ("none").
func codeConfig(d *discovery, clientID, secret, redirectURI string, scopes ...string) oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if secret == "" {
		style = oauth2.AuthStyleInParams
	}
	return oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   d.AuthorizationEndpoint,
			TokenURL:  d.TokenEndpoint,
			AuthStyle: style,
		},
		RedirectURL: redirectURI,
		Scopes:      scopes,
	}
}

// unusedCallback returns http://127.0.0.1:<port>/callback for a port held open (and
// never served) until the test ends, so no other test can be given it.
func unusedCallback(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String() + "/callback"
}

// decodeJWT returns a compact JWT's header and claims without checking the signature.
func decodeJWT(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	decode := func(part string) map[string]any {
		raw, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			t.Fatalf("JWT part %q: %v", part, err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("JWT part %s: %v", raw, err)
		}
		return m
	}
	return decode(parts[0]), decode(parts[1])
}
