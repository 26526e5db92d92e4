package rp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/keyway-go/keyway/oidctest"
	"github.com/keyway-go/keyway/rp"
	"github.com/keyway-go/keyway/session"
)

// A RedisCache serves as both of the RP's shared lists.
var (
	_ rp.ReplayCache = (*session.RedisCache)(nil)
	_ rp.LogoutList  = (*session.RedisCache)(nil)
)

// sharedRedis is one test's corner of a Redis: its address, and a random
// key prefix whose keys are deleted at cleanup.
type sharedRedis struct {
	opt       *redis.Options
	prefix    string
	opTimeout time.Duration // of stores and caches; 0: their default
	admin     *redis.Client // for the test's own look at the keys
}

// newSharedRedis uses the test Redis (skipping without one, failing under
// CI=true).
func newSharedRedis(t testing.TB) *sharedRedis {
	t.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", testenv.RedisURLVar, err)
	}
	return newSharedRedisAt(t, opt)
}

func newSharedRedisAt(t testing.TB, opt *redis.Options) *sharedRedis {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	r := &sharedRedis{opt: opt, prefix: "keyway-rp-test:" + hex.EncodeToString(b) + ":", admin: redis.NewClient(opt)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, err := r.admin.Keys(ctx, r.prefix+"*").Result(); err == nil && len(keys) > 0 {
			r.admin.Del(ctx, keys...)
		}
		r.admin.Close()
	})
	return r
}

// replica returns what one replica of the app has: its own Redis client,
// session store and cache, configured alike.
func (r *sharedRedis) replica(t testing.TB) (*session.RedisStore, *session.RedisCache) {
	t.Helper()
	c := redis.NewClient(r.opt)
	t.Cleanup(func() { c.Close() })
	store, err := session.NewRedisStore(c, [][]byte{sessionKey}, session.RedisConfig{KeyPrefix: r.prefix, OpTimeout: r.opTimeout})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := session.NewRedisCache(c, session.RedisCacheConfig{KeyPrefix: r.prefix, OpTimeout: r.opTimeout})
	if err != nil {
		t.Fatal(err)
	}
	return store, cache
}

// exists reports whether the Redis key prefix+key exists.
func (r *sharedRedis) exists(t testing.TB, key string) bool {
	t.Helper()
	n, err := r.admin.Exists(context.Background(), r.prefix+key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// replicas are two replicas, A and B, of one app: two RPs with the same
// provider, client and configuration, each with its own Redis session
// store and cache on one Redis, served on two ports of 127.0.0.1. Browsers
// send cookies whatever the port, so a browser's session cookie goes to
// both, as behind a load balancer. Provider and RPs share a clock.
type replicas struct {
	a, b  *testApp // a.browser is b.browser
	op    *oidctest.Server
	clk   *clock
	spy   *tokenSpy
	redis *sharedRedis
	store [2]*session.RedisStore
	cfg   [2]rp.Config // as given to rp.New
}

// newReplicas starts the provider, with one-minute access tokens, and the
// two replicas on r. edit, if not nil, edits each replica's configuration.
func newReplicas(t testing.TB, r *sharedRedis, edit func(i int, c *rp.Config)) *replicas {
	t.Helper()
	x := &replicas{clk: newClock(), spy: &tokenSpy{}, redis: r}
	muxes := [2]*http.ServeMux{http.NewServeMux(), http.NewServeMux()}
	var srvs [2]*httptest.Server
	for i := range srvs {
		srvs[i] = httptest.NewServer(muxes[i])
		t.Cleanup(srvs[i].Close)
	}
	x.op = oidctest.NewServer(oidctest.Config{
		Now: x.clk.Now, AccessTokenTTL: time.Minute,
		Clients: []oidctest.Client{{
			ID: "app", Secret: "app-secret",
			RedirectURIs:         []string{srvs[0].URL + "/callback", srvs[1].URL + "/callback"},
			BackchannelLogoutURI: srvs[0].URL + "/backchannel-logout",
		}},
	})
	t.Cleanup(x.op.Close)
	x.op.SetFaults(oidctest.Faults{TokenResponse: x.spy.record})
	txs, err := session.NewCookieStore([][]byte{sessionKey}, session.CookieConfig{AbsoluteTimeout: 10 * time.Minute, SkipIdleTimeout: true})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	apps := [2]*testApp{}
	for i, srv := range srvs {
		store, cache := r.replica(t)
		x.store[i] = store
		a := &testApp{op: x.op, app: srv, browser: b}
		x.cfg[i] = rp.Config{
			Issuer: x.op.Issuer, ClientID: "app", ClientSecret: "app-secret",
			RedirectURL: srv.URL + "/callback",
			Scopes:      []string{"openid", "profile", "email", "offline_access"},
			Sessions:    store, TransactionStore: txs,
			ReplayCache: cache, Logouts: cache,
			Now:       x.clk.Now,
			ErrorPage: a.errorPage,
		}
		if edit != nil {
			edit(i, &x.cfg[i])
		}
		a.rp, err = rp.New(context.Background(), x.cfg[i])
		if err != nil {
			t.Fatal(err)
		}
		a.routes(muxes[i])
		apps[i] = a
	}
	x.a, x.b = apps[0], apps[1]
	return x
}

// sessionID returns the ID of br's session, from its cookie.
func (x *replicas) sessionID(t testing.TB, br *browser) string {
	t.Helper()
	for _, c := range x.a.cookiesOf(br) {
		if c.Name == "keyway" {
			id, _, _ := strings.Cut(c.Value, ".")
			return id
		}
	}
	t.Fatal("the browser has no session cookie")
	return ""
}

// TestReplicasLoginAndUse: a session begun on A is the same session on B,
// and a back-channel logout received by either ends it on both, with its
// data gone from Redis; its replay to the other replica is refused.
func TestReplicasLoginAndUse(t *testing.T) {
	t.Parallel()
	x := newReplicas(t, newSharedRedis(t), nil)
	br, other := x.a.browser, newBrowser(t)
	x.a.login(t, br, "/")
	x.a.login(t, other, "/")
	onA, onB := x.a.whoami(t, br), x.b.whoami(t, br)
	if onB.Sub != "ada" || onB.Iss != x.op.Issuer || onB.AccessToken != onA.AccessToken {
		t.Fatalf("on B: %+v; on A: %+v", onB, onA)
	}

	id := x.sessionID(t, br)
	if !x.redis.exists(t, "s:"+id) {
		t.Fatal("the session is not in Redis")
	}
	tok := x.a.logoutToken(t, "", x.a.sidOf(t, br), nil, oidctest.SignOptions{})
	accepted(t, x.a.postLogoutToken(t, tok))
	x.b.requireNoSession(t, br)
	x.a.requireNoSession(t, br)
	if x.redis.exists(t, "s:"+id) {
		t.Error("the session's data is still in Redis")
	}
	refusedLogout(t, x.b.postLogoutToken(t, tok), "replay")
	x.b.whoami(t, other) // another session stays

	// The other way round: received by B, applied on A.
	tok = x.a.logoutToken(t, "", x.b.sidOf(t, other), nil, oidctest.SignOptions{})
	accepted(t, x.b.postLogoutToken(t, tok))
	x.a.requireNoSession(t, other)
	refusedLogout(t, x.a.postLogoutToken(t, tok), "replay")

	// Logging in again, later than the logout (at the provider's session
	// of before), works on either replica.
	x.clk.Advance(time.Second)
	x.b.login(t, br, "/")
	x.a.whoami(t, br)
}

// TestReplicasRefreshOnce: 50 concurrent requests of one session, split
// across A and B, with an expired access token: the provider sees one
// refresh, every request gets its access token, and the rotated refresh
// token is the one presented next. The provider revokes the whole grant
// when a rotated refresh token comes back, so the later refresh working
// shows that none was presented twice.
func TestReplicasRefreshOnce(t *testing.T) {
	t.Parallel()
	var locks atomic.Int64
	x := newReplicas(t, newSharedRedis(t), func(_ int, c *rp.Config) {
		c.Sessions = &lockCounter{RedisStore: c.Sessions.(*session.RedisStore), n: &locks}
	})
	br := x.a.browser
	x.a.login(t, br, "/")
	at0 := x.b.whoami(t, br).AccessToken
	rt0 := x.spy.last(t, "refresh_token")

	// A slow token endpoint keeps the refresh in flight while the other
	// requests come, on both replicas.
	x.op.SetFaults(oidctest.Faults{TokenResponse: x.spy.record, Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointToken: {Delay: 200 * time.Millisecond},
	}})
	x.clk.Advance(2 * time.Minute)
	const n = 50
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens = map[string]int{}
	)
	for i := range n {
		app := []*testApp{x.a, x.b}[i%2]
		wg.Go(func() {
			r := get(t, br.noFollow, app.app.URL+"/me")
			if r.status != http.StatusOK {
				t.Errorf("GET /me: %d %s", r.status, r.body)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			tokens[jsonField(t, r.body, "at")]++
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if got := x.a.refreshRequests(); len(got) != 1 || got[0] != rt0 {
		t.Fatalf("the provider saw %d refreshes for %d concurrent requests on two replicas, want 1 of the login's refresh token", len(got), n)
	}
	at1, rt1 := x.spy.last(t, "access_token"), x.spy.last(t, "refresh_token")
	if len(tokens) != 1 || tokens[at1] != n || at1 == at0 {
		t.Fatalf("the requests got %d access tokens, want the refreshed one for all %d", len(tokens), n)
	}
	// Each replica's requests wait for one of them, which takes the lock:
	// two locks, give or take a request that came just as one ended.
	if l := locks.Load(); l < 2 || l > 6 {
		t.Errorf("%d locks taken for %d requests on two replicas, want about 2", l, n)
	}

	// Past the RPs' memory of the rotation: the next refresh, on either
	// replica, presents the rotated token, and the grant is intact.
	x.op.SetFaults(oidctest.Faults{TokenResponse: x.spy.record})
	x.clk.Advance(3 * time.Minute)
	at2 := x.b.whoami(t, br).AccessToken
	if got := x.a.refreshRequests(); len(got) != 2 || got[1] != rt1 {
		t.Fatalf("refresh requests: %d, want a second one presenting the rotated token", len(got))
	}
	if at := x.a.whoami(t, br).AccessToken; at != at2 || at2 == at1 {
		t.Fatalf("after the second refresh A has %.8s…, B %.8s…, want the new token on both", at, at2)
	}
	x.clk.Advance(3 * time.Minute)
	x.a.whoami(t, br) // a third refresh: the grant was not revoked
	if got := x.a.refreshRequests(); len(got) != 3 || hasDuplicates(got) {
		t.Fatalf("refresh requests presented %d tokens, want 3 different ones", len(got))
	}
}

// TestReplicasRefreshRefused: a refresh token the provider refuses ends the
// session on every replica.
func TestReplicasRefreshRefused(t *testing.T) {
	t.Parallel()
	x := newReplicas(t, newSharedRedis(t), nil)
	br := x.a.browser
	x.a.login(t, br, "/")
	id := x.sessionID(t, br)
	if err := x.a.rp.Client().Revoke(context.Background(), x.spy.last(t, "refresh_token"), "refresh_token"); err != nil {
		t.Fatal(err)
	}
	x.clk.Advance(2 * time.Minute)
	if _, err := x.b.accessToken(t, br); !errors.Is(err, rp.ErrLoginRequired) {
		t.Fatalf("AccessToken: %v, want ErrLoginRequired", err)
	}
	if x.redis.exists(t, "s:"+id) {
		t.Error("the refused session is still in Redis")
	}
	x.a.requireNoSession(t, br)
}

// TestReplicasRefreshNeedsLock: while another replica holds the session's
// lock, a request that needs a refresh waits, and when its context ends
// first it fails with session.ErrLocked, without refreshing; a lock that
// cannot be asked for fails with session.ErrUnavailable. The session is
// intact afterwards.
func TestReplicasRefreshNeedsLock(t *testing.T) {
	t.Parallel()
	x := newReplicas(t, newSharedRedis(t), nil)
	br := x.a.browser
	x.a.login(t, br, "/")
	x.clk.Advance(2 * time.Minute)

	req := x.a.requestWithCookies(t, br, http.MethodGet, "/")
	sess, err := x.store[1].Get(req, "keyway")
	if err != nil || sess.IsNew {
		t.Fatalf("load the session: %v", err)
	}
	unlock, err := x.store[1].Lock(context.Background(), sess, time.Minute) // held by B
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req = x.a.requestWithCookies(t, br, http.MethodGet, "/").WithContext(ctx)
	start := time.Now()
	_, err = x.a.rp.AccessToken(httptest.NewRecorder(), req)
	if !errors.Is(err, session.ErrLocked) || errors.Is(err, rp.ErrLoginRequired) {
		t.Fatalf("AccessToken with the lock held elsewhere: %v, want session.ErrLocked", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("AccessToken waited %v for the lock, want about its context's 300 ms", took)
	}
	unlock()

	// A store whose lock or reload fails.
	unavailable := fmt.Errorf("%w: stand-in", session.ErrUnavailable)
	for _, tt := range []struct {
		name  string
		store *faultyStore
		want  []error
	}{
		{"lock unavailable", &faultyStore{lockErr: unavailable}, []error{rp.ErrSessionUnavailable, session.ErrUnavailable}},
		{"reload unavailable", &faultyStore{reloadErr: unavailable}, []error{rp.ErrSessionUnavailable, session.ErrUnavailable}},
		{"ended while waiting", &faultyStore{reloadErr: fmt.Errorf("%w: stand-in", session.ErrExpired)}, []error{rp.ErrLoginRequired}},
	} {
		cfg := x.cfg[0]
		tt.store.RedisStore = x.store[0]
		cfg.Sessions = tt.store
		failing, err := rp.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = failing.AccessToken(httptest.NewRecorder(), x.a.requestWithCookies(t, br, http.MethodGet, "/"))
		for _, want := range tt.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: AccessToken: %v, want %v", tt.name, err, want)
			}
		}
		if errors.Is(tt.want[0], rp.ErrSessionUnavailable) && errors.Is(err, rp.ErrLoginRequired) {
			t.Errorf("%s: AccessToken: %v, not a login required", tt.name, err)
		}
	}
	if n := x.a.refreshCount(); n != 0 {
		t.Fatalf("refreshed %d times without the lock", n)
	}

	x.b.whoami(t, br)
	if n := x.a.refreshCount(); n != 1 {
		t.Fatalf("%d refreshes once the lock is free, want 1", n)
	}
}

// lockCounter is a RedisStore that counts the locks it is asked for.
type lockCounter struct {
	*session.RedisStore
	n *atomic.Int64
}

func (s *lockCounter) Lock(ctx context.Context, sess *sessions.Session, ttl time.Duration) (func(), error) {
	s.n.Add(1)
	return s.RedisStore.Lock(ctx, sess, ttl)
}

// faultyStore is a RedisStore whose Lock fails with lockErr, and Reload
// with reloadErr, when they are set.
type faultyStore struct {
	*session.RedisStore
	lockErr, reloadErr error
}

func (s *faultyStore) Lock(ctx context.Context, sess *sessions.Session, ttl time.Duration) (func(), error) {
	if s.lockErr != nil {
		return nil, s.lockErr
	}
	return s.RedisStore.Lock(ctx, sess, ttl)
}

func (s *faultyStore) Reload(ctx context.Context, sess *sessions.Session) error {
	if s.reloadErr != nil {
		return s.reloadErr
	}
	return s.RedisStore.Reload(ctx, sess)
}

// TestReplicasRefreshLeaderGivesUp: requests of one session on one replica
// wait for the one that takes the lock; when that one's context ends
// first, a waiter whose context has not ended takes over.
func TestReplicasRefreshLeaderGivesUp(t *testing.T) {
	t.Parallel()
	x := newReplicas(t, newSharedRedis(t), nil)
	br := x.a.browser
	x.a.login(t, br, "/")
	x.clk.Advance(2 * time.Minute)
	sess, err := x.store[1].Get(x.a.requestWithCookies(t, br, http.MethodGet, "/"), "keyway")
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := x.store[1].Lock(context.Background(), sess, time.Minute) // held by B
	if err != nil {
		t.Fatal(err)
	}

	accessToken := func(timeout time.Duration) <-chan error {
		done := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		go func() {
			defer cancel()
			_, err := x.a.rp.AccessToken(httptest.NewRecorder(), x.a.requestWithCookies(t, br, http.MethodGet, "/").WithContext(ctx))
			done <- err
		}()
		return done
	}
	leader := accessToken(500 * time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	waiter := accessToken(10 * time.Second)
	if err := <-leader; !errors.Is(err, session.ErrLocked) {
		t.Fatalf("the first request: %v, want session.ErrLocked", err)
	}
	time.Sleep(200 * time.Millisecond)
	unlock()
	if err := <-waiter; err != nil {
		t.Fatalf("the waiting request: %v, want it to take over and refresh", err)
	}
	if n := x.a.refreshCount(); n != 1 {
		t.Fatalf("%d refreshes, want 1", n)
	}
}

// TestReplicasRefreshOutlivesRequest: a refresh under the lock goes on
// when the request that started it ends, and its tokens are saved.
func TestReplicasRefreshOutlivesRequest(t *testing.T) {
	t.Parallel()
	x := newReplicas(t, newSharedRedis(t), nil)
	br := x.a.browser
	x.a.login(t, br, "/")
	x.clk.Advance(2 * time.Minute)
	x.op.SetFaults(oidctest.Faults{TokenResponse: x.spy.record, Endpoints: map[string]oidctest.Failure{
		oidctest.EndpointToken: {Delay: 400 * time.Millisecond},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	at, err := x.a.rp.AccessToken(httptest.NewRecorder(), x.a.requestWithCookies(t, br, http.MethodGet, "/").WithContext(ctx))
	if err != nil || at != x.spy.last(t, "access_token") {
		t.Fatalf("AccessToken whose request ended during the refresh: %.8s…, %v; want the refreshed token", at, err)
	}
	x.op.SetFaults(oidctest.Faults{TokenResponse: x.spy.record})
	if got := x.b.whoami(t, br).AccessToken; got != at || x.a.refreshCount() != 1 {
		t.Fatalf("B has %.8s…, after %d refreshes; want the saved token, after 1", got, x.a.refreshCount())
	}
}

// TestReplicasRefreshSaveLost: when the save of a refresh fails, the
// replica that refreshed remembers the rotation and presents the rotated
// refresh token next, not the spent one still in Redis.
func TestReplicasRefreshSaveLost(t *testing.T) {
	t.Parallel()
	var flaky *saveFailStore
	x := newReplicas(t, newSharedRedis(t), func(i int, c *rp.Config) {
		if i == 0 {
			flaky = &saveFailStore{RedisStore: c.Sessions.(*session.RedisStore)}
			c.Sessions = flaky
		}
	})
	br := x.a.browser
	x.a.login(t, br, "/")
	rt0 := x.spy.last(t, "refresh_token")
	x.clk.Advance(2 * time.Minute)
	flaky.failNext.Store(true)
	at1, err := x.a.accessToken(t, br)
	if err != nil || at1 != x.spy.last(t, "access_token") {
		t.Fatalf("AccessToken whose save fails: %.8s…, %v; want the refreshed token", at1, err)
	}
	if flaky.failNext.Load() {
		t.Fatal("the refresh did not save")
	}
	rt1 := x.spy.last(t, "refresh_token")

	// Redis still holds rt0, spent. Within the RP's memory of the
	// rotation (two minutes), once the token needs refreshing again:
	x.clk.Advance(40 * time.Second)
	if _, err := x.a.accessToken(t, br); err != nil {
		t.Fatalf("AccessToken after the lost save: %v", err)
	}
	if got := x.a.refreshRequests(); len(got) != 2 || got[0] != rt0 || got[1] != rt1 {
		t.Fatalf("refreshes presented %d tokens, want the login's then the rotated one", len(got))
	}
	x.b.whoami(t, br) // saved this time: B has the new tokens
	if n := x.a.refreshCount(); n != 2 {
		t.Fatalf("%d refreshes, want 2", n)
	}
}

// saveFailStore is a RedisStore whose next Save fails once failNext is set.
type saveFailStore struct {
	*session.RedisStore
	failNext atomic.Bool
}

func (s *saveFailStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if s.failNext.CompareAndSwap(true, false) {
		return fmt.Errorf("%w: stand-in", session.ErrUnavailable)
	}
	return s.RedisStore.Save(r, w, sess)
}

// TestReplicasRedisHung: while Redis does not answer, requests with a
// session get 503 on both replicas, within the OpTimeout, not a login
// page; AccessToken fails with session.ErrUnavailable. When Redis answers
// again, with its data, the session works again, refresh included.
func TestReplicasRedisHung(t *testing.T) {
	t.Parallel()
	p := startPrivateRedis(t)
	r := newSharedRedisAt(t, &redis.Options{Addr: p.addr})
	r.opTimeout = 300 * time.Millisecond
	x := newReplicas(t, r, nil)
	br := x.a.browser
	x.a.login(t, br, "/")
	x.b.whoami(t, br)

	p.signal(syscall.SIGSTOP)
	for _, app := range []*testApp{x.a, x.b} {
		start := time.Now()
		app.requireUnavailable(t, br)
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("503 after %v, want about OpTimeout", took)
		}
		_, err := app.accessToken(t, br)
		if !errors.Is(err, session.ErrUnavailable) || !errors.Is(err, rp.ErrSessionUnavailable) || errors.Is(err, rp.ErrLoginRequired) {
			t.Errorf("AccessToken: %v, want session.ErrUnavailable", err)
		}
	}
	// A visitor without a session does not need Redis.
	if r := get(t, newBrowser(t).noFollow, x.b.app.URL+"/me"); r.status != http.StatusFound {
		t.Errorf("GET /me without a session: %d, want a redirect to log in", r.status)
	}
	p.signal(syscall.SIGCONT)

	x.a.whoami(t, br)
	x.clk.Advance(2 * time.Minute)
	x.b.whoami(t, br)
	if n := x.a.refreshCount(); n != 1 {
		t.Errorf("%d refreshes after recovery, want 1", n)
	}
}

// privateRedis is a redis-server of one test's own, on a free loopback
// port, for a test that pauses it.
type privateRedis struct {
	tb   testing.TB
	addr string
	cmd  *exec.Cmd
}

func startPrivateRedis(t testing.TB) *privateRedis {
	t.Helper()
	bin := testenv.RedisServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	var log bytes.Buffer
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // also ends a paused server
		cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer:\n%s", addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &privateRedis{tb: t, addr: addr, cmd: cmd}
}

// signal sends sig to the server: SIGSTOP pauses it without closing its
// sockets (connections succeed, calls hang, as with an overloaded or
// partitioned server), SIGCONT resumes it.
func (p *privateRedis) signal(sig syscall.Signal) {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.tb.Fatalf("signal redis-server: %v", err)
	}
}

// jsonField returns the string member name of the JSON object body.
func jsonField(t testing.TB, body, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Errorf("%v: %s", err, body)
		return ""
	}
	v, _ := m[name].(string)
	return v
}

// hasDuplicates reports whether some string is in list twice.
func hasDuplicates(list []string) bool {
	sorted := slices.Sorted(slices.Values(list))
	return len(slices.Compact(sorted)) != len(list)
}
