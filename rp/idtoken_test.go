package rp_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// idTokenTest is one ID token rule: the provider misbehaves as faults say,
// and the login must fail with want (or succeed when want is nil).
type idTokenTest struct {
	name   string
	faults func(op *oidctest.Server) oidctest.Faults
	want   error
}

// idTokenGroup is a set of idTokenTests run one after the other against
// one app configured as the group says.
type idTokenGroup struct {
	name   string
	op     oidctest.Config
	secret string // the client secret, when not the default
	edit   func(*rp.Config)
	tests  []idTokenTest
}

func (g idTokenGroup) run(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{
		op: g.op,
		client: func(c *oidctest.Client) {
			if g.secret != "" {
				c.Secret = g.secret
			}
		},
		edit: func(c *rp.Config) {
			// A refused ID token must also stop the userinfo call.
			c.FetchUserinfo = true
			if g.secret != "" {
				c.ClientSecret = g.secret
			}
			if g.edit != nil {
				g.edit(c)
			}
		},
	})
	for _, tt := range g.tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, a) })
	}
}

// run logs a new browser in against a's provider with the test's faults.
func (tt idTokenTest) run(t *testing.T, a *testApp) {
	var f oidctest.Faults
	if tt.faults != nil {
		f = tt.faults(a.op)
	}
	a.op.SetFaults(f)
	t.Cleanup(func() { a.op.SetFaults(oidctest.Faults{}) })
	b := newBrowser(t)
	cb := a.callbackURL(t, b, "/")
	tokens, userinfo := a.count(oidctest.EndpointToken), a.count(oidctest.EndpointUserinfo)
	if tt.want == nil {
		if r := get(t, b.noFollow, cb); r.status != http.StatusSeeOther {
			t.Fatalf("callback: %d %s", r.status, r.body)
		}
		if m := a.whoami(t, b); m.Sub != "ada" {
			t.Fatalf("logged in as %q", m.Sub)
		}
		return
	}
	a.refused(t, b, cb, http.StatusBadRequest, tt.want)
	if n := a.count(oidctest.EndpointToken) - tokens; n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
	if n := a.count(oidctest.EndpointUserinfo) - userinfo; n != 0 {
		t.Fatalf("userinfo was called after the ID token was refused")
	}
}

// claims returns faults that edit the ID token's claims.
func claims(edit func(c map[string]any)) func(*oidctest.Server) oidctest.Faults {
	return func(*oidctest.Server) oidctest.Faults { return oidctest.Faults{IDTokenClaims: edit} }
}

// header returns faults that edit the ID token's JWS header.
func header(edit func(h map[string]any)) func(*oidctest.Server) oidctest.Faults {
	return func(*oidctest.Server) oidctest.Faults { return oidctest.Faults{IDTokenHeader: edit} }
}

func at(d time.Duration) int64 { return time.Now().Add(d).Unix() }

func TestIDTokenRules(t *testing.T) {
	t.Parallel()
	// HS256 keys must be at least 256 bits (RFC 7518 §3.2).
	const longSecret = "a client secret of 256 bits, ok."
	hs256 := oidctest.Config{SigningAlg: oidctest.HS256}
	groups := []idTokenGroup{
		{name: "defaults", tests: []idTokenTest{
			// Signature and algorithm (RS256 listed, with ES256 and EdDSA).
			{name: "RS256"},
			{name: "alg none", faults: header(func(h map[string]any) { h["alg"] = "none" }), want: rp.ErrInvalidSignature},
			{name: "alg none, no kid", faults: header(func(h map[string]any) { h["alg"] = "none"; delete(h, "kid") }), want: rp.ErrInvalidSignature},
			{name: "HS256 not listed by the provider", faults: header(func(h map[string]any) { h["alg"] = "HS256"; delete(h, "kid") }), want: rp.ErrInvalidSignature},
			{name: "corrupt signature", faults: func(*oidctest.Server) oidctest.Faults { return oidctest.Faults{CorruptIDTokenSignature: true} }, want: rp.ErrInvalidSignature},
			{name: "kid of another key", faults: header(func(h map[string]any) { h["kid"] = "es256-1" }), want: rp.ErrInvalidSignature},
			{name: "unknown kid", faults: header(func(h map[string]any) { h["kid"] = "nope" }), want: rp.ErrInvalidSignature},
			{name: "no kid", faults: header(func(h map[string]any) { delete(h, "kid") })},
			{name: "unknown crit header", faults: header(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 }), want: rp.ErrInvalidIDToken},
			{name: "typ at+jwt", faults: header(func(h map[string]any) { h["typ"] = "at+jwt" }), want: rp.ErrInvalidIDToken},
			{name: "typ logout+jwt", faults: header(func(h map[string]any) { h["typ"] = "logout+jwt" }), want: rp.ErrInvalidIDToken},
			{name: "typ application/jwt", faults: header(func(h map[string]any) { h["typ"] = "application/jwt" })},
			{name: "no typ", faults: header(func(h map[string]any) { delete(h, "typ") })},

			// Issuer and audience.
			{name: "iss of another provider", faults: claims(func(c map[string]any) { c["iss"] = "https://evil.example" }), want: rp.ErrIssuerMismatch},
			{name: "extra untrusted audience", faults: claims(func(c map[string]any) { c["aud"] = []string{"app", "api"} }), want: rp.ErrInvalidIDToken},
			{name: "aud without the client", faults: claims(func(c map[string]any) { c["aud"] = "api"; delete(c, "azp") }), want: rp.ErrInvalidIDToken},
			{name: "azp of another client", faults: claims(func(c map[string]any) { c["azp"] = "api" }), want: rp.ErrInvalidIDToken},
			{name: "no azp, one audience", faults: claims(func(c map[string]any) { delete(c, "azp") })},

			// Times (leeway 60 s).
			{name: "expired beyond leeway", faults: claims(func(c map[string]any) { c["exp"] = at(-2 * time.Minute) }), want: rp.ErrExpired},
			{name: "expired within leeway", faults: claims(func(c map[string]any) { c["exp"] = at(-30 * time.Second) })},
			{name: "no exp", faults: claims(func(c map[string]any) { delete(c, "exp") }), want: rp.ErrInvalidIDToken},
			{name: "iat in the future", faults: claims(func(c map[string]any) { c["iat"] = at(5 * time.Minute) }), want: rp.ErrInvalidIDToken},
			{name: "iat in the future within leeway", faults: claims(func(c map[string]any) { c["iat"] = at(30 * time.Second) })},
			{name: "no iat", faults: claims(func(c map[string]any) { delete(c, "iat") }), want: rp.ErrInvalidIDToken},
			{name: "nbf in the future", faults: claims(func(c map[string]any) { c["nbf"] = at(5 * time.Minute) }), want: rp.ErrInvalidIDToken},
			{name: "nbf in the past", faults: claims(func(c map[string]any) { c["nbf"] = at(-time.Minute) })},

			// Binding to the login.
			{name: "nonce of another login", faults: claims(func(c map[string]any) { c["nonce"] = "bm9uY2Ugb2YgYW5vdGhlciBsb2dpbg" }), want: rp.ErrNonceMismatch},
			{name: "no nonce", faults: claims(func(c map[string]any) { delete(c, "nonce") }), want: rp.ErrNonceMismatch},
			{name: "at_hash of another access token", faults: claims(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }), want: rp.ErrInvalidIDToken},
			{name: "no at_hash", faults: claims(func(c map[string]any) { delete(c, "at_hash") })},
			{name: "no sub", faults: claims(func(c map[string]any) { delete(c, "sub") }), want: rp.ErrInvalidIDToken},
			{name: "sub longer than 255", faults: claims(func(c map[string]any) { c["sub"] = strings.Repeat("s", 256) }), want: rp.ErrInvalidIDToken},
			{name: "no ID token in the token response", faults: func(*oidctest.Server) oidctest.Faults {
				return oidctest.Faults{TokenResponse: func(b map[string]any) { delete(b, "id_token") }}
			}, want: rp.ErrInvalidIDToken},
		}},
		{name: "ES256", op: oidctest.Config{SigningAlg: oidctest.ES256}, tests: []idTokenTest{{name: "accepted"}}},
		{name: "EdDSA", op: oidctest.Config{SigningAlg: oidctest.EdDSA}, tests: []idTokenTest{{name: "accepted"}}},
		{name: "HS256 listed", op: hs256, secret: longSecret, tests: []idTokenTest{
			{name: "accepted"},
			{name: "another secret", faults: resignHS256([]byte("not the client secret, 256 bits")), want: rp.ErrInvalidSignature},
			{name: "at_hash of another access token", faults: claims(func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }), want: rp.ErrInvalidIDToken},
		}},
		{name: "HS256 listed, secret too short", op: hs256, tests: []idTokenTest{{name: "refused", want: rp.ErrInvalidSignature}}},
		{name: "HS256 not listed, secret long enough", secret: longSecret, tests: []idTokenTest{
			{name: "RS256 accepted"},
			{name: "HS256 refused", faults: header(func(h map[string]any) { h["alg"] = "HS256"; delete(h, "kid") }), want: rp.ErrInvalidSignature},
		}},
		{name: "ExtraAudiences", edit: func(c *rp.Config) { c.ExtraAudiences = []string{"api"} }, tests: []idTokenTest{
			{name: "trusted extra audience", faults: claims(func(c map[string]any) { c["aud"] = []string{"app", "api"} })},
			{name: "aud without the client", faults: claims(func(c map[string]any) { c["aud"] = "api"; c["azp"] = "app" }), want: rp.ErrInvalidIDToken},
			{name: "several audiences without azp", faults: claims(func(c map[string]any) { c["aud"] = []string{"app", "api"}; delete(c, "azp") }), want: rp.ErrInvalidIDToken},
			{name: "azp of another client", faults: claims(func(c map[string]any) { c["aud"] = []string{"app", "api"}; c["azp"] = "api" }), want: rp.ErrInvalidIDToken},
			{name: "untrusted third audience", faults: claims(func(c map[string]any) { c["aud"] = []string{"app", "api", "other"} }), want: rp.ErrInvalidIDToken},
		}},
		{name: "MaxAge", edit: func(c *rp.Config) { c.MaxAge = 5 * time.Minute }, tests: []idTokenTest{
			{name: "recent auth_time"},
			{name: "no auth_time", faults: claims(func(c map[string]any) { delete(c, "auth_time") }), want: rp.ErrInvalidIDToken},
			{name: "auth_time too old", faults: claims(func(c map[string]any) { c["auth_time"] = at(-time.Hour) }), want: rp.ErrInvalidIDToken},
		}},
		{name: "ACRValues", edit: func(c *rp.Config) { c.ACRValues = []string{"urn:gold", "urn:silver"} }, tests: []idTokenTest{
			{name: "matching acr"},
			{name: "another acr", faults: claims(func(c map[string]any) { c["acr"] = "urn:bronze" }), want: rp.ErrInvalidIDToken},
			{name: "no acr", faults: claims(func(c map[string]any) { delete(c, "acr") }), want: rp.ErrInvalidIDToken},
		}},
	}
	for _, g := range groups {
		t.Run(g.name, g.run)
	}
}

// resignHS256 replaces the ID token of token responses with one with the
// same claims, signed with HS256 under key.
func resignHS256(key []byte) func(*oidctest.Server) oidctest.Faults {
	return func(op *oidctest.Server) oidctest.Faults {
		return oidctest.Faults{TokenResponse: func(body map[string]any) {
			raw, _ := body["id_token"].(string)
			parts := strings.Split(raw, ".")
			if len(parts) != 3 {
				return
			}
			payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
			var c map[string]any
			if json.Unmarshal(payload, &c) != nil {
				return
			}
			tok, err := op.Sign(c, oidctest.SignOptions{Alg: oidctest.HS256, Type: "JWT", HMACKey: key})
			if err == nil {
				body["id_token"] = tok
			}
		}}
	}
}

// TestIDTokenRequestParams checks that max_age and acr_values, whose
// answers the ID token rules check, are asked for.
func TestIDTokenRequestParams(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) {
		c.MaxAge = 5 * time.Minute
		c.ACRValues = []string{"urn:gold", "urn:silver"}
	})
	a.login(t, a.browser, "/")
	q := a.op.Requests(oidctest.EndpointAuthorize)[0].Form
	if q.Get("max_age") != "300" || q.Get("acr_values") != "urn:gold urn:silver" {
		t.Fatalf("authorization request: max_age=%q acr_values=%q", q.Get("max_age"), q.Get("acr_values"))
	}
	if q.Get("nonce") == "" || q.Get("state") == "" || q.Get("code_challenge_method") != "S256" {
		t.Fatalf("authorization request without nonce, state or PKCE S256: %v", q)
	}
}
