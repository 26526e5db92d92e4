package rp_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// fapiPrefix starts the names of the FAPI 2.0 Security Profile client
// tests.
const fapiPrefix = "fapi2-security-profile-final-client-test-"

// TestConformanceFAPI2 runs the FAPI 2.0 Security Profile client plan
// against a provider that requires PAR, with private_key_jwt.
func TestConformanceFAPI2(t *testing.T) {
	t.Parallel()
	runPlan(t, fapiPlan(t), false)
}

func fapiPlan(t testing.TB) []conformanceCase {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	claims := withClaims
	resp := func(edit func(url.Values)) func(*testing.T, *oidctest.Server) oidctest.Faults {
		return withFaults(oidctest.Faults{AuthorizationResponse: edit})
	}
	tokenResp := func(edit func(map[string]any)) func(*testing.T, *oidctest.Server) oidctest.Faults {
		return withFaults(oidctest.Faults{TokenResponse: edit})
	}
	cases := []conformanceCase{
		{name: "happy-path", check: checkFAPIHappyPath},
		{name: "discovery-issuer-mismatch", run: discoveryIssuerMismatch},
		{name: "invalid-iss", faults: claims(func(c map[string]any) { c["iss"] = "https://evil.example" }),
			stage: refuseIDToken, want: rp.ErrIssuerMismatch},
		{name: "invalid-missing-iss", faults: claims(func(c map[string]any) { delete(c, "iss") }),
			stage: refuseIDToken, want: rp.ErrIssuerMismatch},
		{name: "invalid-aud", faults: claims(func(c map[string]any) { c["aud"] = "another-client" }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "invalid-missing-aud", faults: claims(func(c map[string]any) { delete(c, "aud") }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "invalid-secondary-aud", faults: claims(func(c map[string]any) { c["aud"] = []string{"app", "untrusted-client"} }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "valid-aud-as-array", faults: claims(func(c map[string]any) { c["aud"] = []string{"app"} })},
		{name: "invalid-null-alg", faults: withHeader(func(h map[string]any) { h["alg"] = "none"; delete(h, "kid") }),
			stage: refuseIDToken, want: rp.ErrInvalidSignature},
		// The provider lists only FAPI's algorithms; the ID token comes
		// signed with RS256, with the provider's own RSA key.
		{name: "invalid-alternate-alg", op: oidctest.Config{SigningAlg: oidctest.ES256},
			discovery: func(d map[string]any) {
				d["id_token_signing_alg_values_supported"] = []string{"PS256", "ES256", "EdDSA"}
			},
			faults: withHeader(func(h map[string]any) { h["alg"] = oidctest.RS256 }),
			stage:  refuseIDToken, want: rp.ErrInvalidSignature},
		{name: "invalid-expired-exp", faults: claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
			stage: refuseIDToken, want: rp.ErrExpired},
		{name: "invalid-missing-exp", faults: claims(func(c map[string]any) { delete(c, "exp") }),
			stage: refuseIDToken, want: rp.ErrInvalidIDToken},
		{name: "invalid-nonce", faults: claims(func(c map[string]any) { c["nonce"] = "bm9uY2Ugb2YgYW5vdGhlciBsb2dpbg" }),
			stage: refuseIDToken, want: rp.ErrNonceMismatch},
		{name: "invalid-missing-nonce", faults: claims(func(c map[string]any) { delete(c, "nonce") }),
			stage: refuseIDToken, want: rp.ErrNonceMismatch},
		{name: "invalid-authorization-response-iss", faults: resp(func(p url.Values) { p.Set("iss", "https://evil.example") }),
			stage: refuseResponse, want: rp.ErrIssuerMismatch},
		{name: "remove-authorization-response-iss", faults: resp(func(p url.Values) { p.Del("iss") }),
			stage: refuseResponse, want: client.ErrIssuerMissing},
		{name: "ensure-authorization-response-with-invalid-state-fails", faults: resp(func(p url.Values) { p.Set("state", "c3RhdGUgb2YgYW5vdGhlciBsb2dpbg") }),
			stage: refuseResponse, want: rp.ErrStateMismatch},
		{name: "ensure-authorization-response-with-invalid-missing-state-fails", faults: resp(func(p url.Values) { p.Del("state") }),
			stage: refuseResponse, want: rp.ErrStateMismatch},
		{name: "token-endpoint-response-without-expires_in", faults: tokenResp(func(b map[string]any) { delete(b, "expires_in") }),
			check: checkNoRefresh},
		{name: "token-type-case-insensitivity", faults: tokenResp(func(b map[string]any) {
			b["token_type"] = invertCase(b["token_type"].(string))
		}), check: checkTokenTypeInverted},
		// Added here: the plan has no such module.
		{name: "par-failure-no-fallback", run: parFailureNoFallback},
		{name: "pkce-no-downgrade", discovery: func(d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} },
			check: checkFAPIHappyPath},
		{name: "authorization-response-replay", run: authorizationResponseReplay},
	}
	for i := range cases {
		cases[i] = fapiCase(cases[i], key)
	}
	return cases
}

// fapiCase names c as a FAPI 2.0 client test and runs it against a
// provider that requires PAR, with private_key_jwt client authentication.
func fapiCase(c conformanceCase, key *ecdsa.PrivateKey) conformanceCase {
	c.name = fapiPrefix + c.name
	c.op.RequirePAR = true
	c.client = privateKeyJWTClient(key)
	c.edit = privateKeyJWTConfig(key)
	return c
}

// checkFAPIHappyPath: the request was pushed (RFC 9126) with PKCE S256,
// state and nonce, the browser carried only client_id and request_uri,
// and both the push and the code redemption were authenticated with
// private_key_jwt, the redemption with the verifier of the challenge.
func checkFAPIHappyPath(t *testing.T, run *conformanceRun) {
	par := one(t, run.front, oidctest.EndpointPAR).Form
	if par.Get("code_challenge_method") != "S256" || par.Get("code_challenge") == "" || par.Get("state") == "" ||
		par.Get("nonce") == "" || par.Get("client_assertion") == "" || par.Has("client_secret") {
		t.Fatalf("pushed request: %v", par)
	}
	var keys []string
	for k := range one(t, run.front, oidctest.EndpointAuthorize).Form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"client_id", "request_uri"}) {
		t.Fatalf("the authorization request carried %v, want only client_id and request_uri", keys)
	}
	tok := one(t, run.a.op.Requests(), oidctest.EndpointToken).Form
	sum := sha256.Sum256([]byte(tok.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != par.Get("code_challenge") {
		t.Fatal("the code verifier does not match the pushed S256 challenge")
	}
	if tok.Get("client_assertion") == "" || tok.Has("client_secret") {
		t.Fatalf("token request: %v", tok)
	}
}

// checkTokenTypeInverted: the token_type the RP accepted was not in its
// usual case, and its access token works at userinfo as a Bearer token.
func checkTokenTypeInverted(t *testing.T, run *conformanceRun) {
	if tt := run.spy.last(t, "token_type"); tt == "Bearer" || !strings.EqualFold(tt, "bearer") {
		t.Fatalf("token_type %q, want Bearer in another case", tt)
	}
	checkBearerHeader(t, run)
}

// checkNoRefresh: an access token of unknown lifetime is used as it is,
// not refreshed on every request.
func checkNoRefresh(t *testing.T, run *conformanceRun) {
	run.a.whoami(t, run.b)
	if n := run.a.refreshCount(); n != 0 {
		t.Fatalf("%d refreshes of a token without expires_in", n)
	}
}

// parFailureNoFallback: when the pushed request fails, the RP does not
// fall back to an authorization request in the browser (which the
// provider requires to be pushed): login answers an error page.
func parFailureNoFallback(t *testing.T, c conformanceCase, formPost bool) {
	a, _ := c.newApp(t, formPost)
	a.op.SetFaults(oidctest.Faults{Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointPAR: {Status: http.StatusInternalServerError, Body: `{"error":"server_error"}`},
	}})
	a.op.ResetRequests()
	b := newBrowser(t)
	r := get(t, b.noFollow, a.app.URL+"/login")
	if r.status != http.StatusBadGateway || r.location != "" {
		t.Fatalf("GET /login with PAR failing: %d %q, want 502 and no redirect", r.status, r.location)
	}
	one(t, a.op.Requests(), oidctest.EndpointPAR)
	if n := len(a.op.Requests(oidctest.EndpointAuthorize, oidctest.EndpointToken, oidctest.EndpointUserinfo)); n != 0 {
		t.Fatalf("%d authorize, token or userinfo requests after a failed push", n)
	}
	a.requireNoSession(t, b)
}

// authorizationResponseReplay: the authorization response, delivered a
// second time (the code replayed), is refused before the code goes to the
// token endpoint again: the login it belonged to is spent.
func authorizationResponseReplay(t *testing.T, c conformanceCase, formPost bool) {
	a, _ := c.newApp(t, formPost)
	b := newBrowser(t)
	deliver := a.respond(t, b, formPost)
	if r := deliver(); r.status != http.StatusSeeOther {
		t.Fatalf("first delivery: %d %s", r.status, r.body)
	}
	a.op.ResetRequests()
	r := deliver()
	if r.status != http.StatusBadRequest {
		t.Fatalf("replayed authorization response: %d, want 400", r.status)
	}
	if err := a.lastError(t); !errors.Is(err, rp.ErrStateMismatch) {
		t.Fatalf("replayed authorization response: %v, want ErrStateMismatch", err)
	}
	for _, ck := range r.cookies {
		if ck.Name == "keyway" && ck.Value != "" {
			t.Fatal("the replay set the session cookie")
		}
	}
	if n := len(a.op.Requests(oidctest.EndpointToken, oidctest.EndpointUserinfo)); n != 0 {
		t.Fatalf("%d token or userinfo requests after the replay", n)
	}
}

// invertCase swaps the case of every letter of s.
func invertCase(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, s)
}
