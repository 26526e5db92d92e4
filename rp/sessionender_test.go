package rp_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// The Redis store is a SessionEnder.
var _ rp.SessionEnder = (*session.RedisStore)(nil)

// enderStore is a cookie store that records Bind and EndSessions calls.
type enderStore struct {
	*session.CookieStore
	fail error // returned by EndSessions

	mu    sync.Mutex
	bound []session.Identity
	ended []session.Identity
}

func (s *enderStore) Bind(_ *sessions.Session, id session.Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bound = append(s.bound, id)
}

func (s *enderStore) EndSessions(_ context.Context, id session.Identity) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ended = append(s.ended, id)
	return 1, s.fail
}

func (s *enderStore) calls() (bound, ended []session.Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(bound, s.bound...), append(ended, s.ended...)
}

// TestSessionEnder: sessions are bound to their identity at login, and a
// store that can end sessions is asked to at back- and front-channel
// logout.
func TestSessionEnder(t *testing.T) {
	t.Parallel()
	store := &enderStore{}
	a := newApp(t, appConfig{edit: func(c *rp.Config) {
		store.CookieStore = c.Sessions.(*session.CookieStore)
		c.Sessions = store
	}})
	b := a.browser
	a.login(t, b, "/")
	sid := a.sidOf(t, b)
	bound, _ := store.calls()
	if want := (session.Identity{Issuer: a.op.Issuer, Subject: "ada", SID: sid}); len(bound) != 1 || bound[0] != want {
		t.Fatalf("bound %v, want %v", bound, want)
	}

	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", sid, nil, oidctest.SignOptions{})))
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})))
	if r := get(t, http.DefaultClient, a.frontchannelURL(url.Values{"iss": {a.op.Issuer}, "sid": {"s2"}})); r.status != http.StatusOK {
		t.Fatalf("front-channel logout: %d", r.status)
	}
	_, ended := store.calls()
	want := []session.Identity{
		{Issuer: a.op.Issuer, Subject: "ada", SID: sid},
		{Issuer: a.op.Issuer, Subject: "ada"},
		{Issuer: a.op.Issuer, SID: "s2"},
	}
	if len(ended) != len(want) {
		t.Fatalf("EndSessions calls %v, want %v", ended, want)
	}
	for i := range want {
		if ended[i] != want[i] {
			t.Fatalf("EndSessions calls %v, want %v", ended, want)
		}
	}
}

// TestSessionEnderFails: a logout the store could not apply is answered
// 400, so the provider knows.
func TestSessionEnderFails(t *testing.T) {
	t.Parallel()
	store := &enderStore{fail: errors.New("store down")}
	a := newApp(t, appConfig{edit: func(c *rp.Config) {
		store.CookieStore = c.Sessions.(*session.CookieStore)
		c.Sessions = store
	}})
	a.login(t, a.browser, "/")
	refusedLogout(t, a.postLogoutToken(t, a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})), "store down")
}

// TestSessionWithoutCreationTime: a session saved before sessions recorded
// when they began counts as older than any logout of its sid.
func TestSessionWithoutCreationTime(t *testing.T) {
	t.Parallel()
	a := newTestApp(t, oidctest.Config{}, nil)
	b := a.browser
	a.login(t, b, "/")
	sid := a.sidOf(t, b)
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "", sid, nil, oidctest.SignOptions{})))
	a.login(t, b, "/") // same provider session, newer: accepted
	a.whoami(t, b)

	req := a.requestWithCookies(t, b, http.MethodGet, "/")
	s, err := a.sessions.Get(req, "keyway")
	if err != nil || s.Values["created"] == nil {
		t.Fatalf("session: %v, created %v", err, s.Values["created"])
	}
	delete(s.Values, "created")
	rec := httptest.NewRecorder()
	if err := s.Save(req, rec); err != nil {
		t.Fatal(err)
	}
	a.keepCookies(b, rec)
	a.requireNoSession(t, b)
}

// newRedisStore returns a RedisStore on the test Redis (skipping without
// one, failing under CI=true), under a key prefix of its own.
func newRedisStore(t testing.TB) *session.RedisStore {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "keyway-rp-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, err := c.Keys(ctx, prefix+"*").Result(); err == nil && len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	s, err := session.NewRedisStore(c, [][]byte{sessionKey}, session.RedisConfig{KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRedisStoreLogout: with the Redis store, back-channel logout received
// by one replica ends the session on another although they share no logout
// list (the store deletes it), and RP-initiated logout deletes the session
// so that a copy of its cookie is refused.
func TestRedisStoreLogout(t *testing.T) {
	t.Parallel()
	store := newRedisStore(t)
	var cfg rp.Config
	a := newApp(t, appConfig{edit: func(c *rp.Config) {
		c.Sessions = store
		cfg = *c
	}})
	cfg.ReplayCache, cfg.Logouts = nil, nil // the replica has lists of its own
	replica, err := rp.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	onReplica := func(b *browser) int {
		rec := httptest.NewRecorder()
		replica.RequireLogin("", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).
			ServeHTTP(rec, a.requestWithCookies(t, b, http.MethodGet, "/me"))
		return rec.Code
	}

	b, other := a.browser, newBrowser(t)
	a.login(t, b, "/")
	a.login(t, other, "/")
	if code := onReplica(b); code != http.StatusOK {
		t.Fatalf("the replica does not accept the session: %d", code)
	}
	accepted(t, a.postLogoutToken(t, a.logoutToken(t, "", a.sidOf(t, b), nil, oidctest.SignOptions{})))
	if code := onReplica(b); code != http.StatusFound {
		t.Fatalf("the replica still accepts the session: %d", code)
	}
	if code := onReplica(other); code != http.StatusOK {
		t.Fatalf("the replica refuses another session: %d", code)
	}

	copyOf := newBrowser(t)
	a.setCookies(copyOf, a.cookiesOf(other))
	a.toEndSession(t, a.postLogoutRP(t, other))
	a.requireNoSession(t, other)
	if code := onReplica(copyOf); code != http.StatusFound {
		t.Fatalf("a copy of a logged-out session's cookie is accepted: %d", code)
	}
}

// flakyList is a LogoutList that fails while down is set.
type flakyList struct {
	rp.MemoryCache
	down atomic.Bool
}

func (l *flakyList) Record(ctx context.Context, at, until time.Time, keys ...string) error {
	if l.down.Load() {
		return errors.New("list down")
	}
	return l.MemoryCache.Record(ctx, at, until, keys...)
}

func (l *flakyList) Latest(ctx context.Context, keys ...string) (time.Time, error) {
	if l.down.Load() {
		return time.Time{}, errors.New("list down")
	}
	return l.MemoryCache.Latest(ctx, keys...)
}

// TestLogoutListUnavailable: while the logout list cannot be asked,
// sessions are refused with 503 (a logout must not be undone by an
// outage, and the user must not be sent to log in again, into the same
// refusal), and back-channel logouts fail with 400.
func TestLogoutListUnavailable(t *testing.T) {
	t.Parallel()
	list := &flakyList{}
	a := newApp(t, appConfig{edit: func(c *rp.Config) { c.Logouts = list }})
	b := a.browser
	a.login(t, b, "/")
	a.whoami(t, b)
	list.down.Store(true)
	a.requireUnavailable(t, b)
	if _, err := a.accessToken(t, b); !errors.Is(err, rp.ErrSessionUnavailable) || errors.Is(err, rp.ErrLoginRequired) {
		t.Errorf("AccessToken: %v, want ErrSessionUnavailable", err)
	}
	refusedLogout(t, a.postLogoutToken(t, a.logoutToken(t, "ada", "", nil, oidctest.SignOptions{})), "list down")
	list.down.Store(false)
	a.whoami(t, b) // the session was refused, not deleted
}
