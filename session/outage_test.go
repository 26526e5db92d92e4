package session

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
)

// privateRedis is a redis-server of one test's own, on a free loopback port,
// that the test stops, pauses and restarts. It keeps its data in a temporary
// directory across a stop and a start, as a persistent Redis would.
type privateRedis struct {
	tb   testing.TB
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	log  bytes.Buffer
}

func startPrivateRedis(tb testing.TB) *privateRedis {
	tb.Helper()
	p := &privateRedis{tb: tb, bin: testenv.RedisServer(tb), dir: tb.TempDir(), addr: freeAddr(tb)}
	p.start()
	tb.Cleanup(func() {
		if p.cmd != nil {
			p.cmd.Process.Kill() // also ends a paused server
			p.cmd.Wait()
		}
	})
	return p
}

// freeAddr returns a loopback address no one listens on (yet).
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs redis-server on p.addr, loading the data a stop saved, and waits
// until it answers.
func (p *privateRedis) start() {
	p.tb.Helper()
	_, port, _ := net.SplitHostPort(p.addr)
	p.cmd = exec.Command(p.bin, "--bind", "127.0.0.1", "--port", port,
		"--save", "", "--appendonly", "no", "--dir", p.dir, "--dbfilename", "dump.rdb")
	p.cmd.Stdout, p.cmd.Stderr = &p.log, &p.log
	if err := p.cmd.Start(); err != nil {
		p.tb.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			p.tb.Fatalf("redis-server on %s did not answer:\n%s", p.addr, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the server down, saving its data.
func (p *privateRedis) stop() {
	p.tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: p.addr, MaxRetries: -1})
	defer c.Close()
	c.ShutdownSave(context.Background()) // the connection closes: no reply to check
	if err := p.cmd.Wait(); err != nil {
		p.tb.Fatalf("redis-server: %v\n%s", err, p.log.String())
	}
	p.cmd = nil
}

// pause stops the server process without closing its sockets: connections
// succeed and calls hang, as with an overloaded or partitioned server.
func (p *privateRedis) pause()  { p.signal(syscall.SIGSTOP) }
func (p *privateRedis) resume() { p.signal(syscall.SIGCONT) }

func (p *privateRedis) signal(sig syscall.Signal) {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.tb.Fatalf("signal redis-server: %v", err)
	}
}

const outageOpTimeout = 300 * time.Millisecond

// wantUnavailable fails unless err is ErrUnavailable, for what, and came
// within the store's OpTimeout (plus slack for a loaded machine), far below
// the go-redis default timeouts.
func wantUnavailable(tb testing.TB, what string, err error, took time.Duration) {
	tb.Helper()
	if !errors.Is(err, ErrUnavailable) {
		tb.Errorf("%s: %v, want ErrUnavailable", what, err)
		return
	}
	if !strings.HasPrefix(err.Error(), "session: redis unavailable: ") {
		tb.Errorf("%s: error %q does not say that Redis is unavailable", what, err)
	}
	tb.Logf("%s: %v after %v", what, err, took.Round(time.Millisecond))
	if took > outageOpTimeout+700*time.Millisecond {
		tb.Errorf("%s took %v, want about OpTimeout (%v)", what, took, outageOpTimeout)
	}
}

// timed runs f and returns its error and duration.
func timed(f func() error) (error, time.Duration) {
	start := time.Now()
	err := f()
	return err, time.Since(start)
}

// outageFixture is a store on a private Redis with a logged-in session, and
// a second request of that session that loaded it before the outage.
type outageFixture struct {
	redis  *privateRedis
	env    *redisEnv
	store  *RedisStore
	jar    jar
	other  jar // another session, for Delete
	loaded *sessions.Session
	alice  Identity
}

func newOutageFixture(t *testing.T) *outageFixture {
	t.Helper()
	p := startPrivateRedis(t)
	// Client defaults on purpose: ContextTimeoutEnabled is off, so go-redis
	// would wait 5 s on a hung server; the store must not.
	e := newRedisEnvFor(t, &redis.Options{Addr: p.addr})
	s := e.store(t, RedisConfig{OpTimeout: outageOpTimeout})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	j, _ := login(t, s, alice, map[any]any{"token": "t1"})
	other, _ := login(t, s, Identity{}, nil)
	return &outageFixture{redis: p, env: e, store: s, jar: j, other: other, loaded: mustLoad(t, s, j, "app"), alice: alice}
}

// checkUnavailable calls every method that asks Redis and wants each to fail
// with ErrUnavailable within OpTimeout, writing no cookie where it should not.
func (f *outageFixture) checkUnavailable(t *testing.T) {
	t.Helper()
	s, ctx := f.store, context.Background()

	var sess *sessions.Session
	err, took := timed(func() (err error) { sess, err = s.New(f.jar.request(), "app"); return err })
	wantUnavailable(t, "New", err, took)
	wantFreshRedis(t, sess)

	rec := httptest.NewRecorder()
	err, took = timed(func() error { return s.Save(f.jar.request(), rec, f.loaded) })
	wantUnavailable(t, "Save of a loaded session", err, took)
	fresh, _ := s.New(jar{}.request(), "app")
	fresh.Values["v"] = 1
	err, took = timed(func() error { return s.Save(jar{}.request(), rec, fresh) })
	wantUnavailable(t, "Save of a new session", err, took)
	if h := rec.Header().Values("Set-Cookie"); len(h) != 0 {
		t.Errorf("failed saves wrote cookies %q", h)
	}

	err, took = timed(func() error { return s.Reload(ctx, f.loaded) })
	wantUnavailable(t, "Reload", err, took)
	err, took = timed(func() error { _, err := s.EndSessions(ctx, f.alice); return err })
	wantUnavailable(t, "EndSessions", err, took)
	err, took = timed(func() error { _, err := s.Lock(ctx, f.loaded, time.Second); return err })
	wantUnavailable(t, "Lock", err, took)

	// Delete still expires the cookie, and says the session may live on. (A
	// hung Redis applies the deletion when it wakes up: it gets another
	// session.)
	rec = httptest.NewRecorder()
	err, took = timed(func() error { return s.Delete(f.other.request(), rec, sessions.NewSession(s, "app")) })
	wantUnavailable(t, "Delete", err, took)
	if c := setCookies(rec); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("Delete during the outage wrote %+v, want the cookie expired", c)
	}
}

// checkRecovered wants the session, stored before the outage, to load, save,
// lock and end again.
func (f *outageFixture) checkRecovered(t *testing.T) {
	t.Helper()
	s := f.store
	sess := mustLoad(t, s, f.jar, "app")
	if sess.Values["token"] != "t1" {
		t.Errorf("after recovery: values %v", sess.Values)
	}
	redisUpdate(t, s, f.jar, "app", func(sess *sessions.Session) { sess.Values["token"] = "t2" })
	if err := s.Reload(context.Background(), f.loaded); err != nil || f.loaded.Values["token"] != "t2" {
		t.Errorf("Reload after recovery: %v, %v", err, f.loaded.Values)
	}
	unlock, err := s.Lock(context.Background(), f.loaded, time.Second)
	if err != nil {
		t.Fatalf("Lock after recovery: %v", err)
	}
	unlock()
	if n, err := s.EndSessions(context.Background(), f.alice); n != 1 || err != nil {
		t.Errorf("EndSessions after recovery: %d, %v", n, err)
	}
	for _, k := range append(s.index.current(f.env.prefix, f.alice), s.dataKey(f.loaded.ID)) {
		if f.env.exists(t, k) {
			t.Errorf("%s remains after EndSessions", k)
		}
	}
}

// TestRedisStopped: with Redis stopped every call fails fast with
// ErrUnavailable and no half-written session; when Redis is back (here with
// its data, as a persistent Redis comes back) the store works again.
func TestRedisStopped(t *testing.T) {
	t.Parallel()
	f := newOutageFixture(t)
	f.redis.stop()
	f.checkUnavailable(t)
	f.redis.start()
	if keys := f.env.keys(t); len(keys) != 4 {
		t.Errorf("after the outage Redis holds %q, want only the two sessions of before and the index sets", keys)
	}
	f.checkRecovered(t) // the restarted server has no scripts cached
}

// TestRedisHung: a Redis that accepts connections but does not answer makes
// every call fail at OpTimeout, even though the client would wait longer.
func TestRedisHung(t *testing.T) {
	t.Parallel()
	f := newOutageFixture(t)
	f.redis.pause()
	f.checkUnavailable(t)
	f.redis.resume()
	// The writes the store gave up on during the pause sit in the server's
	// socket buffers and run once it wakes up (a real hung Redis does the
	// same). Let them land before the recovery checks write new values, or
	// a late "t1" can overwrite the check's "t2".
	f.env.ping(t)
	time.Sleep(200 * time.Millisecond)
	f.checkRecovered(t)
}

// TestRedisUnreachable: a store whose Redis never existed fails with a clear
// error, and never panics.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: freeAddr(t)})
	t.Cleanup(func() { client.Close() })
	s, err := NewRedisStore(client, [][]byte{secret('k')}, RedisConfig{OpTimeout: outageOpTimeout})
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := s.New(jar{}.request(), "app")
	sess.Values["v"] = 1
	rec := httptest.NewRecorder()
	err, took := timed(func() error { return s.Save(nil, rec, sess) })
	wantUnavailable(t, "Save", err, took)
	if !strings.Contains(err.Error(), "save session") {
		t.Errorf("Save: %q does not say what failed", err)
	}
	if len(rec.Header().Values("Set-Cookie")) != 0 {
		t.Error("failed Save wrote a cookie")
	}
}
