package oidctest_test

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
)

// leftHalfHash is the OpenID Connect at_hash of token.
func leftHalfHash(sum []byte) string {
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func sha256Hash(token string) string {
	s := sha256.Sum256([]byte(token))
	return leftHalfHash(s[:])
}

func sha512Hash(token string) string {
	s := sha512.Sum512([]byte(token))
	return leftHalfHash(s[:])
}

func TestIDTokenClaims(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := newServer(t, oidctest.Config{Now: clk.Now})
	params := authParams(appID, newPKCE())
	params.Set("acr_values", "urn:acr:silver urn:acr:gold")
	tk := login(t, srv, params)

	header, _ := decodeJWT(t, tk.IDToken)
	wantClaims(t, header, map[string]any{"alg": "RS256", "typ": "JWT"})
	claims := verifyJWT(t, srv, tk.IDToken)
	now := clk.Now().Unix()
	wantClaims(t, claims, map[string]any{
		"iss":                srv.Issuer,
		"sub":                "ada",
		"aud":                appID,
		"azp":                appID,
		"iat":                now,
		"exp":                now + 300,
		"auth_time":          now,
		"nonce":              defaultNonce,
		"at_hash":            sha256Hash(tk.AccessToken),
		"acr":                "urn:acr:silver",
		"name":               "Ada Lovelace",
		"given_name":         "Ada",
		"family_name":        "Lovelace",
		"preferred_username": "ada",
		"email":              "ada@example.com",
		"email_verified":     true,
	})
	if sid, _ := claims["sid"].(string); sid == "" {
		t.Error("no sid")
	}
}

func TestIDTokenClaimsByRequest(t *testing.T) {
	t.Parallel()
	profile := []string{"name", "given_name", "family_name", "preferred_username"}
	email := []string{"email", "email_verified"}
	tests := []struct {
		name    string
		edit    func(url.Values)
		present []string
		absent  []string
	}{
		{"openid only", set("scope", "openid"), nil, append(profile, email...)},
		{"profile", set("scope", "openid profile"), profile, email},
		{"email", set("scope", "openid email"), email, profile},
		{"no nonce", del("nonce"), nil, []string{"nonce"}},
		{"no acr_values", del("acr_values"), nil, []string{"acr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{})
			params := authParams(appID, newPKCE())
			tt.edit(params)
			claims := verifyJWT(t, srv, login(t, srv, params).IDToken)
			for _, c := range tt.present {
				if _, ok := claims[c]; !ok {
					t.Errorf("claim %s missing", c)
				}
			}
			wantClaims(t, claims, nil, tt.absent...)
		})
	}
}

func TestNoIDTokenWithoutOpenID(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{})
	params := authParams(appID, newPKCE())
	params.Set("scope", "profile offline_access")
	if tk := login(t, srv, params); tk.IDToken != "" {
		t.Errorf("id_token issued without openid scope")
	}
}

func TestIDTokenForConfiguredUser(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{Users: []oidctest.User{{
		Subject: "u-1", Username: "grace", Password: "hopper",
		Claims: map[string]any{"name": "Grace Hopper", "phone_number": "+1 555 0100", "groups": []string{"navy"}},
	}}})
	params := authParams(appID, newPKCE())
	params.Set("scope", "openid profile phone")
	claims := verifyJWT(t, srv, login(t, srv, params).IDToken)
	wantClaims(t, claims, map[string]any{"sub": "u-1", "name": "Grace Hopper", "phone_number": "+1 555 0100"}, "groups", "email")
}

func TestIDTokenSigningAlg(t *testing.T) {
	t.Parallel()
	tests := []struct {
		alg    string
		atHash func(string) string
	}{
		{oidctest.RS256, sha256Hash},
		{oidctest.ES256, sha256Hash},
		{oidctest.EdDSA, sha512Hash}, // as go-oidc and panva's provider do for Ed25519
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, oidctest.Config{SigningAlg: tt.alg})
			tk := login(t, srv, nil)
			for name, tok := range map[string]string{"ID token": tk.IDToken, "access token": tk.AccessToken} {
				header, _ := decodeJWT(t, tok)
				if header["alg"] != tt.alg {
					t.Errorf("%s alg = %v, want %s", name, header["alg"], tt.alg)
				}
				verifyJWT(t, srv, tok)
			}
			wantClaims(t, verifyJWT(t, srv, tk.IDToken), map[string]any{"at_hash": tt.atHash(tk.AccessToken)})
		})
	}
}

func TestIDTokenHS256(t *testing.T) {
	t.Parallel()
	srv := newServer(t, oidctest.Config{SigningAlg: oidctest.HS256})
	tk := login(t, srv, nil)
	header, _ := decodeJWT(t, tk.IDToken)
	if _, ok := header["kid"]; ok {
		t.Errorf("HS256 ID token names kid %v", header["kid"])
	}
	claims := verifyHS256(t, tk.IDToken, appSecret)
	wantClaims(t, claims, map[string]any{"aud": appID, "at_hash": sha256Hash(tk.AccessToken)})

	// Access tokens are for resource servers, which share no secret.
	header, _ = decodeJWT(t, tk.AccessToken)
	if header["alg"] != "RS256" {
		t.Errorf("access token alg = %v, want RS256", header["alg"])
	}
	verifyJWT(t, srv, tk.AccessToken)
}
