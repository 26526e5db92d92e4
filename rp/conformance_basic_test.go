package rp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// hs256Secret is a client secret long enough to key HS256 (RFC 7518 §3.2).
const hs256Secret = "a client secret of 256 bits, ok."

// TestConformanceBasic runs the Basic RP plan (response_type code).
func TestConformanceBasic(t *testing.T) {
	t.Parallel()
	runPlan(t, basicPlan(t), false)
}

// TestConformanceFormPost runs the Form Post RP plan: the Basic RP plan
// with response_mode=form_post, and an error sent by form_post.
func TestConformanceFormPost(t *testing.T) {
	t.Parallel()
	runPlan(t, append(basicPlan(t), formPostPlan()...), true)
}

// basicPlan is the Basic RP plan.
func basicPlan(t testing.TB) []conformanceCase {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []conformanceCase{
		{name: "rp-response_type-code", check: checkCodeFlow},
		{name: "rp-scope-userinfo-claims", faults: withClaims(func(c map[string]any) {
			for _, k := range []string{"name", "given_name", "family_name", "preferred_username", "email", "email_verified"} {
				delete(c, k)
			}
		}), check: checkUserinfoClaims},
		{name: "rp-nonce-invalid", faults: withClaims(func(c map[string]any) { c["nonce"] = "bm9uY2Ugb2YgYW5vdGhlciBsb2dpbg" }),
			stage: refuseIDToken, want: rp.ErrNonceMismatch},
		{name: "rp-token_endpoint-client_secret_basic", check: checkSecretBasic},
		{name: "rp-token_endpoint-client_secret_post",
			client: func(c *oidctest.Client) { c.AuthMethod = "client_secret_post" },
			edit:   func(c *rp.Config) { c.AuthMethod = client.AuthClientSecretPost },
			check:  checkSecretPost},
		{name: "rp-token_endpoint-private_key_jwt", client: privateKeyJWTClient(key), edit: privateKeyJWTConfig(key), check: checkPrivateKeyJWT},
		{name: "rp-id_token-aud", faults: withClaims(func(c map[string]any) { c["aud"] = "another-client" }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "rp-token_type-unknown", faults: withFaults(oidctest.Faults{TokenResponse: func(b map[string]any) { b["token_type"] = "N_A" }}),
			stage: refuseIDToken, want: client.ErrMalformedResponse},
		{name: "rp-id_token-kid-absent-single-jwks", faults: kidAbsent(false), check: checkNoKid},
		{name: "rp-id_token-kid-absent-multiple-jwks", faults: kidAbsent(true), check: checkNoKid},
		{name: "rp-id_token-sig-none", faults: withHeader(func(h map[string]any) { h["alg"] = "none"; delete(h, "kid") }),
			stage: refuseIDToken, want: rp.ErrInvalidSignature},
		{name: "rp-id_token-sig-rs256", check: checkAlg(oidctest.RS256)},
		{name: "rp-id_token-sig-es256", op: oidctest.Config{SigningAlg: oidctest.ES256}, check: checkAlg(oidctest.ES256)},
		hs256(conformanceCase{name: "rp-id_token-sig-hs256", check: checkAlg(oidctest.HS256)}),
		{name: "rp-id_token-bad-sig-rs256", faults: withFaults(oidctest.Faults{CorruptIDTokenSignature: true}),
			stage: refuseIDToken, want: rp.ErrInvalidSignature},
		{name: "rp-id_token-bad-sig-es256", op: oidctest.Config{SigningAlg: oidctest.ES256},
			faults: withFaults(oidctest.Faults{CorruptIDTokenSignature: true}), stage: refuseIDToken, want: rp.ErrInvalidSignature},
		hs256(conformanceCase{name: "rp-id_token-bad-sig-hs256", faults: func(_ *testing.T, op *oidctest.Server) oidctest.Faults {
			return resignHS256([]byte("not the client secret, 256 bits"))(op)
		}, stage: refuseIDToken, want: rp.ErrInvalidSignature}),
		{name: "rp-id_token-issuer-mismatch", faults: withClaims(func(c map[string]any) { c["iss"] = "https://evil.example" }),
			stage: refuseIDToken, want: rp.ErrIssuerMismatch},
		{name: "rp-id_token-iat", faults: withClaims(func(c map[string]any) { delete(c, "iat") }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "rp-id_token-sub", faults: withClaims(func(c map[string]any) { delete(c, "sub") }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "rp-userinfo-bad-sub-claim", faults: withFaults(oidctest.Faults{UserinfoClaims: func(c map[string]any) { c["sub"] = "mallory" }}),
			stage: refuseUserinfo, want: rp.ErrUserinfoSubject},
		{name: "rp-userinfo-bearer-header", check: checkBearerHeader},
	}
}

// hs256 runs c against a provider that lists HS256 and signs ID tokens
// with the client secret.
func hs256(c conformanceCase) conformanceCase {
	c.op = oidctest.Config{SigningAlg: oidctest.HS256}
	c.client = func(r *oidctest.Client) { r.Secret = hs256Secret }
	c.edit = func(cfg *rp.Config) { cfg.ClientSecret = hs256Secret }
	return c
}

// formPostPlan is what the Form Post RP plan adds to the Basic RP plan.
func formPostPlan() []conformanceCase {
	return []conformanceCase{
		{name: "rp-response_mode-form_post", check: checkFormPost},
		{name: "rp-response_mode-form_post-error", faults: withFaults(oidctest.Faults{AuthorizationResponse: func(p url.Values) {
			p.Del("code")
			p.Set("error", "access_denied")
			p.Set("error_description", "the user said no")
		}}), stage: refuseResponse, want: &client.AuthError{Code: "access_denied"}, status: http.StatusForbidden},
	}
}

// withClaims returns faults that edit the ID token's claims.
func withClaims(edit func(map[string]any)) func(*testing.T, *oidctest.Server) oidctest.Faults {
	return withFaults(oidctest.Faults{IDTokenClaims: edit})
}

// withHeader returns faults that edit the ID token's JWS header.
func withHeader(edit func(map[string]any)) func(*testing.T, *oidctest.Server) oidctest.Faults {
	return withFaults(oidctest.Faults{IDTokenHeader: edit})
}

func withFaults(f oidctest.Faults) func(*testing.T, *oidctest.Server) oidctest.Faults {
	return func(*testing.T, *oidctest.Server) oidctest.Faults { return f }
}

// kidAbsent returns faults that drop the kid from the ID token and from
// a JWKS holding only the provider's RSA key, or, with rotate, two
// generations of all its keys (two RSA keys the RP must try in turn).
func kidAbsent(rotate bool) func(*testing.T, *oidctest.Server) oidctest.Faults {
	return func(t *testing.T, op *oidctest.Server) oidctest.Faults {
		t.Helper()
		if rotate {
			if err := op.RotateKeys(); err != nil {
				t.Fatal(err)
			}
		}
		var set jose.JSONWebKeySet
		rsaKeys := 0
		for _, k := range op.JWKS().Keys {
			if !rotate && k.Algorithm != oidctest.RS256 {
				continue
			}
			if k.Algorithm == oidctest.RS256 {
				rsaKeys++
			}
			k.KeyID = ""
			set.Keys = append(set.Keys, k)
		}
		if want := map[bool]int{false: 1, true: 2}[rotate]; rsaKeys != want {
			t.Fatalf("the JWKS holds %d RSA keys, want %d", rsaKeys, want)
		}
		body, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		return oidctest.Faults{
			IDTokenHeader: func(h map[string]any) { delete(h, "kid") },
			Endpoints:     map[string]oidctest.Failure{oidctest.EndpointJWKS: {Status: http.StatusOK, Body: string(body)}},
		}
	}
}

func privateKeyJWTClient(key *ecdsa.PrivateKey) func(*oidctest.Client) {
	return func(c *oidctest.Client) {
		c.Secret = ""
		c.AuthMethod = "private_key_jwt"
		c.JWKS = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "app-1", Algorithm: "ES256", Use: "sig"}}}
	}
}

func privateKeyJWTConfig(key *ecdsa.PrivateKey) func(*rp.Config) {
	return func(c *rp.Config) {
		c.ClientSecret = ""
		c.AuthMethod = client.AuthPrivateKeyJWT
		c.PrivateKey = key
		c.KeyID = "app-1"
	}
}

// checkCodeFlow: an authorization code request with openid, state, nonce
// and PKCE S256, redeemed with the verifier at the same redirect URI.
func checkCodeFlow(t *testing.T, run *conformanceRun) {
	q := one(t, run.front, oidctest.EndpointAuthorize).Form
	redirect := run.a.app.URL + "/callback"
	if q.Get("response_type") != "code" || !slices.Contains(strings.Fields(q.Get("scope")), "openid") ||
		q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("redirect_uri") != redirect {
		t.Fatalf("authorization request: %v", q)
	}
	tok := one(t, run.a.op.Requests(), oidctest.EndpointToken).Form
	if tok.Get("grant_type") != "authorization_code" || tok.Get("code") == "" ||
		tok.Get("code_verifier") == "" || tok.Get("redirect_uri") != redirect {
		t.Fatalf("token request: %v", tok)
	}
}

// checkUserinfoClaims: profile and email asked for, and their claims,
// absent from the ID token, taken from userinfo.
func checkUserinfoClaims(t *testing.T, run *conformanceRun) {
	scope := strings.Fields(one(t, run.front, oidctest.EndpointAuthorize).Form.Get("scope"))
	if !slices.Contains(scope, "profile") || !slices.Contains(scope, "email") {
		t.Fatalf("scope %q, want profile and email", scope)
	}
	if _, ok := jwtClaims(t, run.spy.last(t, "id_token"))["email"]; ok {
		t.Fatal("the ID token carries email: userinfo is not what is tested")
	}
	m := run.a.whoami(t, run.b)
	if m.Claims["email"] != "ada@example.com" || m.Name != "Ada Lovelace" {
		t.Fatalf("claims %v, want email and name from userinfo", m.Claims)
	}
}

// checkSecretBasic: the client authenticates in the Authorization header
// (RFC 6749 §2.3.1: each part form-encoded), and only there.
func checkSecretBasic(t *testing.T, run *conformanceRun) {
	tok := one(t, run.a.op.Requests(), oidctest.EndpointToken)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("app")+":"+url.QueryEscape("app-secret")))
	if tok.Header.Get("Authorization") != want || tok.Form.Has("client_secret") || tok.Form.Has("client_assertion") {
		t.Fatalf("token request: Authorization %q, form %v", tok.Header.Get("Authorization"), tok.Form)
	}
}

func checkSecretPost(t *testing.T, run *conformanceRun) {
	tok := one(t, run.a.op.Requests(), oidctest.EndpointToken)
	if tok.Form.Get("client_id") != "app" || tok.Form.Get("client_secret") != "app-secret" || tok.Header.Get("Authorization") != "" {
		t.Fatalf("token request: Authorization %q, form %v", tok.Header.Get("Authorization"), tok.Form)
	}
}

func checkPrivateKeyJWT(t *testing.T, run *conformanceRun) {
	tok := one(t, run.a.op.Requests(), oidctest.EndpointToken)
	if tok.Form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		tok.Form.Get("client_assertion") == "" || tok.Form.Has("client_secret") || tok.Header.Get("Authorization") != "" {
		t.Fatalf("token request: Authorization %q, form %v", tok.Header.Get("Authorization"), tok.Form)
	}
	if c := jwtClaims(t, tok.Form.Get("client_assertion")); c["iss"] != "app" || c["sub"] != "app" {
		t.Fatalf("client assertion claims %v", c)
	}
}

// checkNoKid: the ID token had no kid and the RP read the JWKS once.
func checkNoKid(t *testing.T, run *conformanceRun) {
	if h := jwtHeader(t, run.spy.last(t, "id_token")); strings.Contains(h, `"kid"`) {
		t.Fatalf("the ID token has a kid: %s", h)
	}
	if n := len(run.a.op.Requests(oidctest.EndpointJWKS)); n != 1 {
		t.Fatalf("JWKS fetches = %d, want 1", n)
	}
}

// checkAlg: the accepted ID token was signed with alg.
func checkAlg(alg string) func(*testing.T, *conformanceRun) {
	return func(t *testing.T, run *conformanceRun) {
		var h struct {
			Alg string `json:"alg"`
		}
		if err := json.Unmarshal([]byte(jwtHeader(t, run.spy.last(t, "id_token"))), &h); err != nil || h.Alg != alg {
			t.Fatalf("ID token alg %q (%v), want %s", h.Alg, err, alg)
		}
	}
}

// checkBearerHeader: userinfo was called with the access token in the
// Authorization header, not in the query or body.
func checkBearerHeader(t *testing.T, run *conformanceRun) {
	ui := one(t, run.a.op.Requests(), oidctest.EndpointUserinfo)
	if ui.Method != http.MethodGet || ui.Header.Get("Authorization") != "Bearer "+run.spy.last(t, "access_token") || ui.Form.Has("access_token") {
		t.Fatalf("userinfo request: %s Authorization %q form %v", ui.Method, ui.Header.Get("Authorization"), ui.Form)
	}
}

// checkFormPost: the RP asked for form_post and took the POSTed response.
func checkFormPost(t *testing.T, run *conformanceRun) {
	if q := one(t, run.front, oidctest.EndpointAuthorize).Form; q.Get("response_mode") != "form_post" {
		t.Fatalf("authorization request without response_mode=form_post: %v", q)
	}
}
