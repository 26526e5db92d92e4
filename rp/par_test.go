package rp_test

import (
	"slices"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

func TestPAR(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		op   oidctest.Config
		edit func(*rp.Config)
	}{
		{"UsePAR", oidctest.Config{}, func(c *rp.Config) { c.UsePAR = true }},
		{"provider requires PAR", oidctest.Config{RequirePAR: true}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, tt.op, tt.edit)
			a.login(t, a.browser, "/")
			a.whoami(t, a.browser)
			authz := a.op.Requests(oidctest.EndpointAuthorize)
			if len(authz) != 1 {
				t.Fatalf("authorization requests = %d", len(authz))
			}
			var keys []string
			for k := range authz[0].Form {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, []string{"client_id", "request_uri"}) {
				t.Fatalf("the authorization request carried %v, want only client_id and request_uri", keys)
			}
			par := a.op.Requests(oidctest.EndpointPAR)
			if len(par) != 1 || par[0].Form.Get("state") == "" || par[0].Form.Get("code_challenge") == "" {
				t.Fatalf("pushed requests: %+v", par)
			}
		})
	}
}

func TestNoPARByDefault(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	a.login(t, a.browser, "/")
	if n := a.count(oidctest.EndpointPAR); n != 0 {
		t.Fatalf("PAR requests = %d without UsePAR", n)
	}
}
