package client_test

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
)

const exchangedJSON = `{"access_token":"new","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":60}`

func TestTokenExchangeRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		req  client.TokenExchangeRequest
		opts []client.TokenOption
		want url.Values // besides grant_type and client credentials
	}{
		{
			name: "subject only",
			req:  client.TokenExchangeRequest{SubjectToken: "st"},
			want: url.Values{"subject_token": {"st"}, "subject_token_type": {client.TokenTypeAccessToken}},
		},
		{
			name: "everything",
			req: client.TokenExchangeRequest{
				SubjectToken: "st", SubjectTokenType: client.TokenTypeJWT,
				ActorToken: "act", ActorTokenType: client.TokenTypeIDToken,
				RequestedTokenType: client.TokenTypeRefreshToken,
				Audience:           []string{"svc-a", "svc-b"},
				Resource:           []string{"https://api.example"},
				Scopes:             []string{"read", "write"},
			},
			want: url.Values{
				"subject_token": {"st"}, "subject_token_type": {client.TokenTypeJWT},
				"actor_token": {"act"}, "actor_token_type": {client.TokenTypeIDToken},
				"requested_token_type": {client.TokenTypeRefreshToken},
				"audience":             {"svc-a", "svc-b"},
				"resource":             {"https://api.example"},
				"scope":                {"read write"},
			},
		},
		{
			name: "options add parameters but cannot replace the subject",
			req:  client.TokenExchangeRequest{SubjectToken: "st"},
			opts: []client.TokenOption{client.Param("subject_token", "forged"), client.Param("x", "y")},
			want: url.Values{"subject_token": {"st"}, "subject_token_type": {client.TokenTypeAccessToken}, "x": {"y"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(200, exchangedJSON)})
			c := as.client(t, func(cfg *client.Config) { cfg.Scopes = []string{"ignored"} })
			tok, err := c.TokenExchange(t.Context(), tt.req, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if tok.AccessToken != "new" || tok.IssuedTokenType() != client.TokenTypeAccessToken {
				t.Fatalf("token %+v, issued type %q", tok, tok.IssuedTokenType())
			}
			got := as.requests("/token")[0].form
			if got.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" || got.Get("client_secret") != "s3cret" {
				t.Fatalf("form %v", got)
			}
			for _, k := range []string{"grant_type", "client_id", "client_secret"} {
				got.Del(k)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("form %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTokenExchangeRefusals(t *testing.T) {
	t.Parallel()
	as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(200, exchangedJSON)})
	c := as.client(t, nil)
	for name, req := range map[string]client.TokenExchangeRequest{
		"no subject token":         {SubjectTokenType: client.TokenTypeJWT},
		"actor without type":       {SubjectToken: "st", ActorToken: "act"},
		"actor type without token": {SubjectToken: "st", ActorTokenType: client.TokenTypeJWT},
		"relative resource":        {SubjectToken: "st", Resource: []string{"/api"}},
		"resource with fragment":   {SubjectToken: "st", Resource: []string{"https://api.example#x"}},
	} {
		if _, err := c.TokenExchange(t.Context(), req); err == nil {
			t.Errorf("%s: TokenExchange succeeded", name)
		}
	}
	if n := len(as.requests("/token")); n != 0 {
		t.Fatalf("%d requests, want none", n)
	}
}

func TestTokenExchangeResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		status   int
		body     string
		wantErr  error
		tokenErr string
	}{
		{name: "no issued_token_type", status: 200, body: `{"access_token":"new","token_type":"Bearer"}`, wantErr: client.ErrMalformedResponse},
		{name: "issued_token_type not a string", status: 200, body: `{"access_token":"new","token_type":"N_A","issued_token_type":1}`, wantErr: client.ErrMalformedResponse},
		{name: "no access_token", status: 200, body: `{"issued_token_type":"urn:ietf:params:oauth:token-type:jwt","token_type":"N_A"}`, wantErr: client.ErrMalformedResponse},
		{name: "error answer", status: 400, body: `{"error":"invalid_target"}`, tokenErr: "invalid_target"},
		{name: "N_A token", status: 200, body: `{"access_token":"jwt","token_type":"N_A","issued_token_type":"urn:ietf:params:oauth:token-type:jwt"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(tt.status, tt.body)})
			tok, err := as.client(t, nil).TokenExchange(t.Context(), client.TokenExchangeRequest{SubjectToken: "st"})
			switch {
			case tt.wantErr != nil:
				wantIs(t, err, tt.wantErr)
			case tt.tokenErr != "":
				if te := asTokenError(t, err); te.Code != tt.tokenErr {
					t.Fatalf("code %q", te.Code)
				}
			case err != nil:
				t.Fatal(err)
			case tok.IssuedTokenType() != client.TokenTypeJWT || tok.TokenType != "N_A":
				t.Fatalf("token %+v", tok)
			}
		})
	}
}

func TestIssuedTokenTypeOfOtherTokens(t *testing.T) {
	t.Parallel()
	as := newFakeAS(t, map[string]http.HandlerFunc{"/token": answer(200, tokenJSON)})
	tok, err := as.client(t, nil).ClientCredentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.IssuedTokenType(); got != "" {
		t.Fatalf("IssuedTokenType %q, want empty", got)
	}
}

func TestTokenExchangeOIDCTest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, oidctest.Config{})
	c := f.client(t, basicID, nil)
	_, user := f.login(t, c)
	actor, err := f.client(t, postID, nil).ClientCredentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.TokenExchange(t.Context(), client.TokenExchangeRequest{
		SubjectToken: user.AccessToken,
		ActorToken:   actor.AccessToken, ActorTokenType: client.TokenTypeAccessToken,
		Audience: []string{"svc-b"},
		Scopes:   []string{"openid"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.IssuedTokenType() != client.TokenTypeAccessToken || tok.RefreshToken != "" {
		t.Fatalf("token %+v", tok)
	}
	claims := jwtClaims(t, tok.AccessToken)
	act, _ := claims["act"].(map[string]any)
	if claims["sub"] != oidctest.DemoUser.Subject || claims["aud"] != "svc-b" || claims["scope"] != "openid" || act["sub"] != postID {
		t.Fatalf("claims %v", claims)
	}

	_, err = c.TokenExchange(t.Context(), client.TokenExchangeRequest{SubjectToken: user.AccessToken, Scopes: []string{"admin"}})
	if te := asTokenError(t, err); te.Code != "invalid_scope" {
		t.Fatalf("wider scope: code %q", te.Code)
	}
	_, err = c.TokenExchange(t.Context(), client.TokenExchangeRequest{SubjectToken: "forged"})
	if te := asTokenError(t, err); te.Code != "invalid_request" {
		t.Fatalf("forged subject token: code %q", te.Code)
	}
	_, err = f.client(t, publicID, nil).TokenExchange(t.Context(), client.TokenExchangeRequest{SubjectToken: user.AccessToken})
	if te := asTokenError(t, err); te.Code != "unauthorized_client" {
		t.Fatalf("public client: code %q", te.Code)
	}
}
