package oidctest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/oidctest"
)

const (
	tokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	accessTokenType = "urn:ietf:params:oauth:token-type:access_token"
	jwtTokenType    = "urn:ietf:params:oauth:token-type:jwt"
)

func exchangeForm(subjectToken string) url.Values {
	return url.Values{
		"grant_type":         {tokenExchange},
		"subject_token":      {subjectToken},
		"subject_token_type": {accessTokenType},
	}
}

// svcClient is a second confidential client, the actor of exchanges.
func svcClient() oidctest.Client { return oidctest.Client{ID: "svc", Secret: "svc-secret"} }

var svcAuth = secretBasic("svc", "svc-secret")

func exchangeServer(t testing.TB, cfg oidctest.Config) *oidctest.Server {
	t.Helper()
	cfg.Clients = []oidctest.Client{appClient(), spaClient(), svcClient()}
	return newServer(t, cfg)
}

func TestTokenExchange(t *testing.T) {
	t.Parallel()
	srv := exchangeServer(t, oidctest.Config{})
	subject := login(t, srv, nil).AccessToken
	form := exchangeForm(subject)
	form.Set("audience", "orders-api")
	form.Add("resource", "https://orders.example/")
	form.Set("scope", "openid profile")
	res := post(t, srv, "/token", svcAuth, form)
	tk := wantTokens(t, res)
	body := res.json(t)
	wantClaims(t, body, map[string]any{
		"issued_token_type": accessTokenType,
		"token_type":        "Bearer",
		"scope":             "openid profile",
		"expires_in":        300,
	}, "refresh_token", "id_token")
	claims := verifyJWT(t, srv, tk.AccessToken)
	wantClaims(t, claims, map[string]any{
		"sub":       "ada",
		"client_id": "svc",
		"aud":       []string{"orders-api", "https://orders.example/"},
		"scope":     "openid profile",
	}, "act", "cnf")
	if res := userinfo(t, srv, "Bearer "+tk.AccessToken); res.status != http.StatusOK {
		t.Errorf("userinfo with the exchanged token: status %d", res.status)
	}
}

func TestTokenExchangeDefaults(t *testing.T) {
	t.Parallel()
	srv := exchangeServer(t, oidctest.Config{})
	subject := login(t, srv, nil).AccessToken
	form := exchangeForm(subject)
	form.Set("requested_token_type", accessTokenType)
	claims := verifyJWT(t, srv, wantTokens(t, post(t, srv, "/token", svcAuth, form)).AccessToken)
	wantClaims(t, claims, map[string]any{"aud": "svc", "scope": defaultScope})

	// A JWT access token may be presented as type jwt.
	form = exchangeForm(subject)
	form.Set("subject_token_type", jwtTokenType)
	wantTokens(t, post(t, srv, "/token", svcAuth, form))
}

func TestTokenExchangeActor(t *testing.T) {
	t.Parallel()
	srv := exchangeServer(t, oidctest.Config{})
	subject := login(t, srv, nil).AccessToken
	actor := wantTokens(t, post(t, srv, "/token", svcAuth, clientCredentialsForm())).AccessToken

	form := exchangeForm(subject)
	form.Set("actor_token", actor)
	form.Set("actor_token_type", accessTokenType)
	first := wantTokens(t, post(t, srv, "/token", appAuth, form)).AccessToken
	wantClaims(t, verifyJWT(t, srv, first), map[string]any{"sub": "ada", "act": map[string]any{"sub": "svc"}})

	// Exchanging again with another actor nests the first one.
	app := wantTokens(t, post(t, srv, "/token", appAuth, clientCredentialsForm())).AccessToken
	form = exchangeForm(first)
	form.Set("actor_token", app)
	form.Set("actor_token_type", accessTokenType)
	chained := wantTokens(t, post(t, srv, "/token", svcAuth, form)).AccessToken
	wantClaims(t, verifyJWT(t, srv, chained), map[string]any{
		"sub": "ada",
		"act": map[string]any{"sub": appID, "act": map[string]any{"sub": "svc"}},
	})

	// Without an actor the delegation carries over.
	wantClaims(t, verifyJWT(t, srv, wantTokens(t, post(t, srv, "/token", svcAuth, exchangeForm(chained))).AccessToken),
		map[string]any{"act": map[string]any{"sub": appID, "act": map[string]any{"sub": "svc"}}})
}

func TestTokenExchangeRejects(t *testing.T) {
	t.Parallel()
	foreign := newServer(t, oidctest.Config{})
	foreignToken := login(t, foreign, nil).AccessToken
	tests := []struct {
		name   string
		form   func(t testing.TB, srv *oidctest.Server, clk *clock, subject string) url.Values
		auth   clientAuth
		status int
		code   string
	}{
		{"public client", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values { return exchangeForm(s) },
			spaAuth, http.StatusBadRequest, "unauthorized_client"},
		{"no subject_token", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Del("subject_token")
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"no subject_token_type", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Del("subject_token_type")
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"unsupported subject_token_type", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("subject_token_type", "urn:ietf:params:oauth:token-type:saml2")
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"foreign subject token", func(testing.TB, *oidctest.Server, *clock, string) url.Values { return exchangeForm(foreignToken) },
			svcAuth, http.StatusBadRequest, "invalid_request"},
		{"expired subject token", func(_ testing.TB, _ *oidctest.Server, clk *clock, s string) url.Values {
			clk.Advance(5 * time.Minute)
			return exchangeForm(s)
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"revoked subject token", func(t testing.TB, srv *oidctest.Server, _ *clock, s string) url.Values {
			revoke(t, srv, appAuth, s)
			return exchangeForm(s)
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"refresh token as subject", func(t testing.TB, srv *oidctest.Server, _ *clock, _ string) url.Values {
			return exchangeForm(login(t, srv, nil).RefreshToken)
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"wider scope", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("scope", "openid admin")
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_scope"},
		{"actor_token without type", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("actor_token", s)
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"actor_token_type without token", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("actor_token_type", accessTokenType)
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"unknown actor token", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("actor_token", "nope")
			f.Set("actor_token_type", accessTokenType)
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"refresh token requested", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_request"},
		{"relative resource", func(_ testing.TB, _ *oidctest.Server, _ *clock, s string) url.Values {
			f := exchangeForm(s)
			f.Set("resource", "orders")
			return f
		}, svcAuth, http.StatusBadRequest, "invalid_target"},
	}
	// Where the error code alone does not tell which check refused.
	descriptions := map[string]string{
		"no subject_token":               "subject_token is required",
		"no subject_token_type":          "subject_token_type is required",
		"actor_token without type":       "actor_token_type is required",
		"actor_token_type without token": "actor_token is required",
		"foreign subject token":          "not an active access token",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := exchangeServer(t, oidctest.Config{Now: clk.Now})
			subject := login(t, srv, nil).AccessToken
			res := post(t, srv, "/token", tt.auth, tt.form(t, srv, clk, subject))
			wantOAuthError(t, res, tt.status, tt.code)
			if about := descriptions[tt.name]; about != "" {
				if desc, _ := res.json(t)["error_description"].(string); !strings.Contains(desc, about) {
					t.Errorf("error_description = %q, want it to say %q", desc, about)
				}
			}
		})
	}
}

func TestTokenExchangeOpaqueSubject(t *testing.T) {
	t.Parallel()
	srv := exchangeServer(t, oidctest.Config{OpaqueAccessTokens: true})
	subject := login(t, srv, nil).AccessToken
	form := exchangeForm(subject)
	form.Set("subject_token_type", jwtTokenType)
	wantOAuthError(t, post(t, srv, "/token", svcAuth, form), http.StatusBadRequest, "invalid_request")

	actor := wantTokens(t, post(t, srv, "/token", svcAuth, clientCredentialsForm())).AccessToken
	form = exchangeForm(subject)
	form.Set("actor_token", actor)
	form.Set("actor_token_type", accessTokenType)
	exchanged := wantTokens(t, post(t, srv, "/token", appAuth, form)).AccessToken
	wantClaims(t, introspect(t, srv, exchanged), map[string]any{
		"active": true, "sub": "ada", "client_id": appID, "act": map[string]any{"sub": "svc"},
	})
}

func TestTokenExchangeDPoP(t *testing.T) {
	t.Parallel()
	srv := exchangeServer(t, oidctest.Config{})
	subject := login(t, srv, nil).AccessToken
	key := newDPoPKey(t, jose.ES256)
	res := post(t, srv, "/token", both(svcAuth, tokenProof(t, srv, key)), exchangeForm(subject))
	tk := wantTokens(t, res)
	if tk.TokenType != "DPoP" || cnfJKT(verifyJWT(t, srv, tk.AccessToken)) != key.jkt(t) {
		t.Errorf("token_type %q: want DPoP bound to the proof's key", tk.TokenType)
	}
}
