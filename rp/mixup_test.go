package rp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// twoProviders is one app logging in with two providers, A and B, each
// with its own RP, callback and session.
type twoProviders struct {
	app  *httptest.Server
	op   map[string]*oidctest.Server
	errs map[string]*testApp // error recorders, by provider
}

func newTwoProviders(t testing.TB, sharedTxStore bool) *twoProviders {
	t.Helper()
	mux := http.NewServeMux()
	p := &twoProviders{app: httptest.NewServer(mux), op: map[string]*oidctest.Server{}, errs: map[string]*testApp{}}
	t.Cleanup(p.app.Close)
	sessions, err := session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{})
	if err != nil {
		t.Fatal(err)
	}
	newTxs := func() *session.CookieStore {
		s, err := session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	txs := newTxs()
	for _, name := range []string{"a", "b"} {
		op := oidctest.NewServer(oidctest.Config{Clients: []oidctest.Client{{
			ID: "app", Secret: "app-secret", // the same client ID at both
			RedirectURIs: []string{p.app.URL + "/" + name + "/callback"},
		}}})
		t.Cleanup(op.Close)
		p.op[name] = op
		rec := &testApp{op: op}
		p.errs[name] = rec
		if !sharedTxStore {
			txs = newTxs()
		}
		party, err := rp.New(context.Background(), rp.Config{
			Issuer: op.Issuer, ClientID: "app", ClientSecret: "app-secret",
			RedirectURL: p.app.URL + "/" + name + "/callback",
			Sessions:    sessions, SessionName: "session" + name, TransactionStore: txs,
			ErrorPage: rec.errorPage,
		})
		if err != nil {
			t.Fatal(err)
		}
		mux.HandleFunc("GET /"+name+"/login", party.Login)
		mux.HandleFunc("GET /"+name+"/callback", party.Callback)
		mux.Handle("GET /"+name+"/me", party.RequireLogin("/"+name+"/login", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, _ := rp.UserFrom(r.Context())
			w.Write([]byte(u.Issuer))
		})))
	}
	return p
}

// callbackURL runs a login at provider name up to its callback.
func (p *twoProviders) callbackURL(t testing.TB, b *browser, name string) string {
	t.Helper()
	r := get(t, b.noFollow, p.app.URL+"/"+name+"/login")
	if r.status != http.StatusFound {
		t.Fatalf("GET /%s/login: %d", name, r.status)
	}
	r = get(t, b.noFollow, r.location)
	if r.status != http.StatusFound || !strings.HasPrefix(r.location, p.app.URL+"/"+name+"/callback?") {
		t.Fatalf("authorize at %s: %d %q", name, r.status, r.location)
	}
	return r.location
}

func (p *twoProviders) tokenRequests() int {
	return len(p.op["a"].Requests(oidctest.EndpointToken)) + len(p.op["b"].Requests(oidctest.EndpointToken))
}

func (p *twoProviders) loggedIn(t testing.TB, b *browser, name string) bool {
	t.Helper()
	r := get(t, b.noFollow, p.app.URL+"/"+name+"/me")
	return r.status == http.StatusOK && r.body == p.op[name].Issuer
}

func TestTwoProviders(t *testing.T) {
	t.Parallel()
	p := newTwoProviders(t, true)
	b := newBrowser(t)
	for _, name := range []string{"a", "b"} {
		if r := get(t, b.noFollow, p.callbackURL(t, b, name)); r.status != http.StatusSeeOther {
			t.Fatalf("callback at %s: %d %s", name, r.status, r.body)
		}
	}
	if !p.loggedIn(t, b, "a") || !p.loggedIn(t, b, "b") {
		t.Fatal("not logged in at both providers")
	}
}

// TestMixUp delivers B's authorization response to A's callback (RFC 9207
// mix-up): refused before any token request, whether or not the two RPs
// share a transaction store.
func TestMixUp(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{true, false} {
		t.Run(map[bool]string{true: "shared transaction store", false: "own transaction stores"}[shared], func(t *testing.T) {
			t.Parallel()
			p := newTwoProviders(t, shared)
			b := newBrowser(t)
			cb := p.callbackURL(t, b, "b")
			tokens := p.tokenRequests()
			r := get(t, b.noFollow, strings.Replace(cb, "/b/callback", "/a/callback", 1))
			if r.status != http.StatusBadRequest {
				t.Fatalf("B's response at A's callback: %d", r.status)
			}
			if err := p.errs["a"].lastError(t); !errors.Is(err, rp.ErrIssuerMismatch) && !errors.Is(err, rp.ErrStateMismatch) {
				t.Fatalf("B's response at A's callback: %v", err)
			}
			if p.tokenRequests() != tokens {
				t.Fatal("B's response at A's callback reached a token endpoint")
			}
			if p.loggedIn(t, b, "a") || p.loggedIn(t, b, "b") {
				t.Fatal("a session was started")
			}
		})
	}
}

// TestMixUpIss answers A's login with B's iss: ErrIssuerMismatch.
func TestMixUpIss(t *testing.T) {
	t.Parallel()
	p := newTwoProviders(t, true)
	b := newBrowser(t)
	cb := withQuery(t, p.callbackURL(t, b, "a"), func(q url.Values) { q.Set("iss", p.op["b"].Issuer) })
	if r := get(t, b.noFollow, cb); r.status != http.StatusBadRequest {
		t.Fatalf("A's response with B's iss: %d", r.status)
	}
	if err := p.errs["a"].lastError(t); !errors.Is(err, rp.ErrIssuerMismatch) {
		t.Fatalf("A's response with B's iss: %v, want ErrIssuerMismatch", err)
	}
	if p.tokenRequests() != 0 || p.loggedIn(t, b, "a") {
		t.Fatal("A's response with B's iss was redeemed")
	}
}
