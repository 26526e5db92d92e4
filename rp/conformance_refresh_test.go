package rp_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// refreshCase is a case of the Refresh Token RP plan: the ID token of the
// refresh response is edited by claims, and the RP must accept the
// refresh (want nil) or refuse it with want and end the session (OpenID
// Connect Core §12.2: iss, sub, aud and azp must be the original's).
type refreshCase struct {
	name   string
	edit   func(*rp.Config)
	claims func(c map[string]any)
	// response, if set, edits the refresh's token response.
	response func(b map[string]any)
	want     error
}

func refreshPlan() []refreshCase {
	return []refreshCase{
		{name: "oidcc-client-test-refresh-token", claims: func(map[string]any) {}},
		{name: "oidcc-client-test-refresh-token-invalid-issuer", claims: func(c map[string]any) { c["iss"] = "https://evil.example" },
			want: rp.ErrIssuerMismatch},
		{name: "oidcc-client-test-refresh-token-invalid-sub", claims: func(c map[string]any) { c["sub"] = "mallory" },
			want: rp.ErrInvalidIDToken},
		// api is a trusted audience, so only the §12.2 rule refuses the
		// change from "app" to ["app", "api"].
		{name: "oidcc-client-test-refresh-token-invalid-aud", edit: func(c *rp.Config) { c.ExtraAudiences = []string{"api"} },
			claims: func(c map[string]any) { c["aud"] = []string{"app", "api"} }, want: rp.ErrInvalidIDToken},
		{name: "oidcc-client-test-refresh-token-invalid-azp", claims: func(c map[string]any) { c["azp"] = "another-client" },
			want: rp.ErrInvalidIDToken},
		{name: "refresh-azp-removed", claims: func(c map[string]any) { delete(c, "azp") },
			want: rp.ErrInvalidIDToken},
		{name: "refresh-token_type-unknown", claims: func(map[string]any) {},
			response: func(b map[string]any) { b["token_type"] = "N_A" }, want: client.ErrMalformedResponse},
	}
}

// TestConformanceRefresh runs the Refresh Token RP plan.
func TestConformanceRefresh(t *testing.T) {
	t.Parallel()
	cases := refreshPlan()
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
	}
	requireUniqueNames(t, names)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t)
		})
	}
}

// test logs in, lets the access token expire and has the RP refresh it.
func (c refreshCase) test(t *testing.T) {
	a, clk, spy := newRefreshApp(t, appConfig{edit: c.edit})
	b := newBrowser(t)
	a.loginWith(t, b, false)
	original := jwtClaims(t, spy.last(t, "id_token"))
	edit := spy.record
	if c.response != nil {
		edit = func(b map[string]any) { c.response(b); spy.record(b) }
	}
	a.op.SetFaults(oidctest.Faults{TokenResponse: edit, IDTokenClaims: c.claims})
	clk.Advance(2 * time.Minute)
	a.op.ResetRequests()
	tok, err := a.accessToken(t, b)
	if reqs := a.op.Requests(oidctest.EndpointToken); len(reqs) != 1 || reqs[0].Form.Get("grant_type") != "refresh_token" {
		t.Fatalf("%d token requests, want one refresh", len(reqs))
	}
	refreshed := jwtClaims(t, spy.last(t, "id_token"))
	if c.want == nil {
		if err != nil || tok != spy.last(t, "access_token") {
			t.Fatalf("AccessToken: %v", err)
		}
		for _, k := range []string{"iss", "sub", "aud", "azp"} {
			if fmt.Sprint(refreshed[k]) != fmt.Sprint(original[k]) {
				t.Fatalf("refreshed %s %v, original %v", k, refreshed[k], original[k])
			}
		}
		a.op.SetFaults(oidctest.Faults{TokenResponse: spy.record})
		if m := a.whoami(t, b); m.AccessToken != tok {
			t.Fatal("the session does not hold the refreshed access token")
		}
		return
	}
	if !errors.Is(err, rp.ErrLoginRequired) || !errors.Is(err, c.want) {
		t.Fatalf("AccessToken: %v, want ErrLoginRequired and %v", err, c.want)
	}
	a.requireNoSession(t, b)
	// The refused refresh is the last call: the ended session does not
	// refresh again, and nothing asks userinfo.
	if n := len(a.op.Requests(oidctest.EndpointToken, oidctest.EndpointUserinfo)); n != 1 {
		t.Fatalf("%d token or userinfo requests, want the one refused refresh", n)
	}
}
