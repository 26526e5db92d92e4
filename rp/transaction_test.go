package rp_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
)

// TestTwoTabs starts two logins in one browser and completes them in either
// order: each has its own transaction.
func TestTwoTabs(t *testing.T) {
	t.Parallel()
	for _, firstDone := range []int{0, 1} {
		t.Run([]string{"first started finishes first", "second started finishes first"}[firstDone], func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, oidctest.Config{}, nil)
			b := a.browser
			cbs := []string{a.callbackURL(t, b, "/tab-a"), a.callbackURL(t, b, "/tab-b")}
			order := []int{firstDone, 1 - firstDone}
			for _, i := range order {
				want := []string{"/tab-a", "/tab-b"}[i]
				r := get(t, b.noFollow, cbs[i])
				if r.status != http.StatusSeeOther || r.location != want {
					t.Fatalf("callback of tab %d: %d %q, want 303 to %s (%v)", i, r.status, r.location, want, a.errs)
				}
			}
			a.whoami(t, b)
		})
	}
}

// TestTransactionCap starts one login more than the cap: the oldest is
// forgotten, the others complete.
func TestTransactionCap(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		configured int
		cap        int
	}{
		{"default", 0, 5},
		{"configured", 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) { c.MaxTransactions = tt.configured })
			b := a.browser
			var cbs []string
			for range tt.cap + 1 {
				cbs = append(cbs, a.callbackURL(t, b, "/"))
			}
			tokens := a.count(oidctest.EndpointToken)
			a.refused(t, b, cbs[0], http.StatusBadRequest, rp.ErrStateMismatch)
			if n := a.count(oidctest.EndpointToken); n != tokens {
				t.Fatalf("the oldest login's callback reached the token endpoint")
			}
			for i := len(cbs) - 1; i >= 1; i-- {
				if r := get(t, b.noFollow, cbs[i]); r.status != http.StatusSeeOther {
					t.Fatalf("login %d of %d: %d %s", i+1, len(cbs), r.status, r.body)
				}
			}
		})
	}
}

func TestCallbackReplay(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	cb := a.callbackURL(t, b, "/")
	if r := get(t, b.noFollow, cb); r.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d %s", r.status, r.body)
	}
	u, _ := url.Parse(a.app.URL)
	for _, c := range b.jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "kwtx-") {
			t.Fatalf("transaction cookie %s survived its callback", c.Name)
		}
	}
	r := get(t, b.noFollow, cb)
	if r.status != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d, want 400", r.status)
	}
	if err := a.lastError(t); !errors.Is(err, rp.ErrStateMismatch) {
		t.Fatalf("replayed callback: %v, want ErrStateMismatch", err)
	}
	if n := a.count(oidctest.EndpointToken); n != 1 {
		t.Fatalf("token requests = %d, want 1: the replay reached the token endpoint", n)
	}
}

// TestCallbackReplayWithStolenCookie: a callback replayed with a copy of
// its transaction cookie (taken before the first use deleted it) is
// refused by the replay cache before its code reaches the token endpoint,
// where the provider would revoke the grant of the first use.
func TestCallbackReplayWithStolenCookie(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	cb := a.callbackURL(t, b, "/")
	u, _ := url.Parse(a.app.URL)
	var stolen []*http.Cookie
	for _, c := range b.jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "kwtx-") {
			stolen = append(stolen, c)
		}
	}
	if len(stolen) == 0 {
		t.Fatal("no transaction cookie to steal")
	}
	if r := get(t, b.noFollow, cb); r.status != http.StatusSeeOther {
		t.Fatalf("first callback: %d %s", r.status, r.body)
	}
	attacker := newBrowser(t)
	attacker.jar.SetCookies(u, stolen)
	a.refused(t, attacker, cb, http.StatusBadRequest, rp.ErrStateMismatch)
	if n := a.count(oidctest.EndpointToken); n != 1 {
		t.Fatalf("token requests = %d, want 1: the replay reached the token endpoint", n)
	}
	a.whoami(t, b) // the real user's session lives on
}

// failingReplayCache is a ReplayCache that cannot be asked.
type failingReplayCache struct{}

func (failingReplayCache) Seen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("replay cache down")
}

// TestCallbackReplayCacheDown: a login whose state cannot be recorded as
// spent is refused with 503, before the token endpoint.
func TestCallbackReplayCacheDown(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) { c.ReplayCache = failingReplayCache{} })
	b := a.browser
	a.refused(t, b, a.callbackURL(t, b, "/"), http.StatusServiceUnavailable, rp.ErrSessionUnavailable)
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatalf("token requests = %d, want 0", n)
	}
}

func TestCallbackBadState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(q url.Values)
		want error
	}{
		{"unknown", func(q url.Values) { q.Set("state", "c3RhdGUgb2YgYSBsb2dpbiBuZXZlciBzdGFydGVk") }, rp.ErrStateMismatch},
		{"missing", func(q url.Values) { q.Del("state") }, rp.ErrStateMismatch},
		{"empty", func(q url.Values) { q.Set("state", "") }, rp.ErrStateMismatch},
		{"oversized", func(q url.Values) { q.Set("state", strings.Repeat("A", 4096)) }, rp.ErrStateMismatch},
		{"repeated", func(q url.Values) { q.Add("state", "second") }, client.ErrMalformedResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newTestApp(t, oidctest.Config{}, nil)
			b := a.browser
			cb := withQuery(t, a.callbackURL(t, b, "/"), tt.edit)
			a.refused(t, b, cb, http.StatusBadRequest, tt.want)
			if n := a.count(oidctest.EndpointToken, oidctest.EndpointUserinfo); n != 0 {
				t.Fatalf("%d token or userinfo requests after a refused state", n)
			}
		})
	}
}

// TestTransactionExpired lets more than ten minutes pass on the RP's clock
// between login and callback. The cookie store's own clock does not move,
// so only the RP's expiry check can refuse it.
func TestTransactionExpired(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a := newTestApp(t, oidctest.Config{}, func(c *rp.Config) { c.Now = clk.Now })
	b := a.browser
	cb := a.callbackURL(t, b, "/")
	clk.Advance(10*time.Minute + time.Second)
	a.refused(t, b, cb, http.StatusBadRequest, rp.ErrStateMismatch)
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatalf("an expired login reached the token endpoint")
	}
}

// TestCallbackFromAnotherBrowser delivers a callback to a browser that did
// not start the login (login CSRF): refused, and the login stays usable in
// the browser that started it.
func TestCallbackFromAnotherBrowser(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	victim := newBrowser(t)
	cb := a.callbackURL(t, a.browser, "/")
	a.refused(t, victim, cb, http.StatusBadRequest, rp.ErrStateMismatch)
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatalf("a callback in another browser reached the token endpoint")
	}
	if r := get(t, a.browser.noFollow, cb); r.status != http.StatusSeeOther {
		t.Fatalf("callback in the browser that started the login: %d %s", r.status, r.body)
	}
}

func TestCallbackMethodAndSize(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	cb := a.callbackURL(t, b, "/")
	u, _ := url.Parse(cb)

	req, _ := http.NewRequest(http.MethodPut, cb, nil)
	if r := do(t, b.noFollow, req); r.status != http.StatusBadRequest {
		t.Fatalf("PUT callback: %d, want 400", r.status)
	}
	body := u.RawQuery + "&pad=" + strings.Repeat("x", 100<<10)
	req, _ = http.NewRequest(http.MethodPost, a.app.URL+"/callback", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, b.noFollow, req); r.status != http.StatusBadRequest {
		t.Fatalf("100 KB form_post callback: %d, want 400", r.status)
	}
	if n := a.count(oidctest.EndpointToken); n != 0 {
		t.Fatalf("a refused callback reached the token endpoint")
	}
	a.requireNoSession(t, b)
}
