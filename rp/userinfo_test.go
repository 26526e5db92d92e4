package rp_test

import (
	"net/http"
	"testing"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

func TestUserinfoMerged(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{
		faults: oidctest.Faults{UserinfoClaims: func(c map[string]any) {
			c["name"] = "Not Ada" // the ID token's name wins
			c["favourite_engine"] = "analytical"
		}},
		edit: func(c *rp.Config) { c.FetchUserinfo = true },
	})
	a.login(t, a.browser, "/")
	m := a.whoami(t, a.browser)
	if m.Claims["favourite_engine"] != "analytical" {
		t.Fatalf("userinfo claim missing: %v", m.Claims)
	}
	if m.Name != "Ada Lovelace" {
		t.Fatalf("name = %v, want the ID token's", m.Name)
	}
	if n := a.count(oidctest.EndpointUserinfo); n != 1 {
		t.Fatalf("userinfo requests = %d, want 1", n)
	}
}

func TestUserinfoNotFetchedByDefault(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	a.login(t, a.browser, "/")
	if n := a.count(oidctest.EndpointUserinfo); n != 0 {
		t.Fatalf("userinfo requests = %d without FetchUserinfo", n)
	}
}

func TestUserinfoSubject(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		edit func(map[string]any)
	}{
		{"another sub", func(c map[string]any) { c["sub"] = "mallory" }},
		{"no sub", func(c map[string]any) { delete(c, "sub") }},
		{"sub not a string", func(c map[string]any) { c["sub"] = 42 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newApp(t, appConfig{
				faults: oidctest.Faults{UserinfoClaims: tt.edit},
				edit:   func(c *rp.Config) { c.FetchUserinfo = true },
			})
			b := a.browser
			a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusBadRequest, rp.ErrUserinfoSubject)
		})
	}
}

func TestUserinfoFailure(t *testing.T) {
	t.Parallel()
	a := newApp(t, appConfig{
		faults: oidctest.Faults{Endpoints: map[string]oidctest.Failure{
			oidctest.EndpointUserinfo: {Status: http.StatusInternalServerError, Body: `{}`},
		}},
		edit: func(c *rp.Config) { c.FetchUserinfo = true },
	})
	b := a.browser
	r := get(t, b.noFollow, a.callbackURL(t, b, "/"))
	if r.status != http.StatusBadRequest {
		t.Fatalf("callback with a failing userinfo: %d", r.status)
	}
	a.requireNoSession(t, b)
}
