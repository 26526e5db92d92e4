package session

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
)

func TestRedisRoundTrip(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{Secure: true})
	j := jar{}
	token := big(12 << 10)
	saved := redisUpdate(t, s, j, "app", func(sess *sessions.Session) {
		sess.Values["token"] = token
		sess.Values["n"] = 42
	})

	sess := mustLoad(t, s, j, "app")
	if sess.ID != saved.ID || sess.Values["token"] != token || sess.Values["n"] != 42 {
		t.Fatalf("got ID %q with %d values, want ID %q with the saved values", sess.ID, len(sess.Values), saved.ID)
	}
	if got := e.keys(t); len(got) != 1 || got[0] != s.dataKey(sess.ID) {
		t.Errorf("Redis holds %q, want only the session's data key", got)
	}

	// Second and later saves update the stored session in place.
	redisUpdate(t, s, j, "app", func(sess *sessions.Session) { sess.Values["n"] = 43 })
	if sess := mustLoad(t, s, j, "app"); sess.ID != saved.ID || sess.Values["n"] != 43 {
		t.Errorf("after an update: ID %q, n %v", sess.ID, sess.Values["n"])
	}
}

// TestRedisRoundTrips: loading a session is one round trip, saving one, and a
// request without a session cookie asks Redis nothing.
func TestRedisRoundTrips(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	j := jar{}
	redisUpdate(t, s, j, "app", func(sess *sessions.Session) { sess.Values["warm"] = "up" }) // loads the script

	trips := func(f func()) int64 {
		before := e.trips.Load()
		f()
		return e.trips.Load() - before
	}
	if n := trips(func() { s.New(jar{}.request(), "app") }); n != 0 {
		t.Errorf("New without a cookie: %d round trips, want 0", n)
	}
	r := j.request()
	var sess *sessions.Session
	if n := trips(func() { sess, _ = s.New(r, "app") }); n != 1 {
		t.Errorf("New: %d round trips, want 1", n)
	}
	s.Bind(sess, Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"})
	if n := trips(func() {
		if err := s.Save(r, httptest.NewRecorder(), sess); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}); n != 1 {
		t.Errorf("Save with index entries: %d round trips, want 1", n)
	}
	s.Rotate(sess)
	if n := trips(func() {
		if err := s.Save(r, httptest.NewRecorder(), sess); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}); n != 1 {
		t.Errorf("Save after Rotate: %d round trips, want 1", n)
	}
}

func TestRedisGetUsesRegistry(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	j := jar{}
	redisUpdate(t, s, j, "app", func(sess *sessions.Session) { sess.Values["a"] = 1 })
	r := j.request()
	before := e.trips.Load()
	first, err := s.Get(r, "app")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := s.Get(r, "app")
	if first != second || e.trips.Load()-before != 1 {
		t.Errorf("Get twice: same session %v, %d round trips; want the same session and 1", first == second, e.trips.Load()-before)
	}
}

// TestRedisCookie: the cookie holds the ID and its tag, nothing of the
// session's values, with the configured attributes.
func TestRedisCookie(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	now := newClock()
	s := e.store(t, RedisConfig{Secure: true, IdleTimeout: 4 * time.Hour, AbsoluteTimeout: 8 * time.Hour, Now: now.Now})
	j := jar{}
	const token = "eyJhbGciOiJSUzI1NiJ9.access-token-value"
	r := j.request()
	sess, _ := s.New(r, "app")
	sess.Values["access_token"] = token
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		t.Fatal(err)
	}
	cookies := setCookies(rec)
	if len(cookies) != 1 {
		t.Fatalf("got %d cookies, want 1", len(cookies))
	}
	c := cookies[0]
	if c.Name != "__Host-app" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie attributes: %+v", c)
	}
	if c.MaxAge != int((8 * time.Hour).Seconds()) {
		t.Errorf("Max-Age %d, want the absolute timeout", c.MaxAge)
	}
	id, tag, ok := strings.Cut(c.Value, ".")
	if !ok || id != sess.ID || len(c.Value) != idCookieLen || len(tag) != tagLen {
		t.Errorf("cookie value %q, want %q.<tag>", c.Value, sess.ID)
	}
	for _, h := range rec.Header().Values("Set-Cookie") {
		if strings.Contains(h, "access") || strings.Contains(h, "eyJ") {
			t.Errorf("Set-Cookie %q shows the session's values", h)
		}
	}

	// Max-Age counts down the absolute lifetime.
	now.Advance(3 * time.Hour)
	j.apply(rec)
	r = j.request()
	sess = mustLoad(t, s, j, "app")
	rec = httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		t.Fatal(err)
	}
	if c := setCookies(rec)[0]; c.MaxAge != int((5 * time.Hour).Seconds()) {
		t.Errorf("Max-Age after 3 hours: %d, want 5 hours", c.MaxAge)
	}
}

// TestRedisForgedCookie: a cookie whose ID or tag is not one the store made
// is refused, as ErrInvalid with a new session, without asking Redis.
func TestRedisForgedCookie(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s := offlineStore(t, &calls, RedisConfig{})
	other := offlineStore(t, &calls, RedisConfig{}, secret('o'))
	id := newID()
	valid := s.ids.encode("app", id)
	tests := map[string]string{
		"id altered":       flip(valid, 5),
		"tag altered":      flip(valid, len(valid)-3),
		"other secret":     other.ids.encode("app", id),
		"other cookie":     s.ids.encode("other", id),
		"no tag":           id,
		"empty tag":        id + ".",
		"guessed id":       newID() + valid[idLen:],
		"padded":           valid + "=",
		"bad alphabet":     valid[:5] + "+" + valid[6:],
		"non-canonical id": valid[:idLen-1] + "B" + valid[idLen:], // last character's low bits set
		"garbage":          "x",
		"empty":            "",
	}
	for name, value := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.AddCookie(&http.Cookie{Name: "app", Value: value})
			before := calls.Load()
			sess, err := s.New(r, "app")
			if value == "" && err == nil {
				wantFreshRedis(t, sess)
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("New(%q): %v, want ErrInvalid", value, err)
			}
			wantFreshRedis(t, sess)
			if n := calls.Load() - before; n != 0 {
				t.Errorf("New(%q) made %d Redis calls, want none", value, n)
			}
		})
	}

	// The genuine cookie does ask Redis.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: "app", Value: valid})
	before := calls.Load()
	if _, err := s.New(r, "app"); !errors.Is(err, ErrExpired) || calls.Load()-before != 1 {
		t.Errorf("valid cookie for a missing session: %v after %d calls, want ErrExpired after 1", err, calls.Load()-before)
	}
}

// wantFreshRedis fails unless sess is a new, empty session with an ID the
// store made.
func wantFreshRedis(tb testing.TB, sess *sessions.Session) {
	tb.Helper()
	if !sess.IsNew || len(sess.Values) != 0 || !validID(sess.ID) {
		tb.Fatalf("got session IsNew=%v with %d values and ID %q, want a new empty one", sess.IsNew, len(sess.Values), sess.ID)
	}
}

// TestRedisDump: nothing Redis holds (key names, values, set members) shows
// a session's values or its identity.
func TestRedisDump(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	secrets := []string{"access-token-plaintext", "refresh-token-plaintext", "alice@example.com", "op-session-42", "https://op.example"}
	login(t, s, Identity{Issuer: secrets[4], Subject: secrets[2], SID: secrets[3]}, map[any]any{
		"access_token":  secrets[0],
		"refresh_token": secrets[1],
		"email":         secrets[2],
	})
	ctx := context.Background()
	keys := e.keys(t)
	if len(keys) != 3 {
		t.Fatalf("Redis holds %q, want a data key and two index sets", keys)
	}
	var dump strings.Builder
	for _, k := range keys {
		dump.WriteString(k + "\n")
		switch typ := e.client.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(e.client.Get(ctx, k).Val())
		case "set":
			dump.WriteString(strings.Join(e.client.SMembers(ctx, k).Val(), "\n"))
		default:
			t.Fatalf("key %s is a %s", k, typ)
		}
		raw, err := e.client.Dump(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		dump.WriteString(raw)
	}
	for _, secret := range secrets {
		if strings.Contains(dump.String(), secret) {
			t.Errorf("the Redis dump shows %q", secret)
		}
	}
}

// TestRedisTTL: each save sets the key's TTL to the session's remaining
// lifetime: the idle timeout, or the time left to the absolute timeout.
func TestRedisTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     RedisConfig
		elapsed time.Duration // between the first save and the one checked
		want    time.Duration
	}{
		{"idle", RedisConfig{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 8 * time.Hour}, time.Hour, 30 * time.Minute},
		{"absolute left", RedisConfig{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 8 * time.Hour}, 7*time.Hour + 50*time.Minute, 10 * time.Minute},
		{"no idle timeout", RedisConfig{SkipIdleTimeout: true, AbsoluteTimeout: 8 * time.Hour}, time.Hour, 7 * time.Hour},
		{"defaults", RedisConfig{}, 0, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRedisEnv(t)
			now := newClock()
			tt.cfg.Now = now.Now
			s := e.store(t, tt.cfg)
			j, _ := login(t, s, Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}, nil)
			for elapsed := time.Duration(0); elapsed < tt.elapsed; {
				step := min(20*time.Minute, tt.elapsed-elapsed)
				now.Advance(step)
				elapsed += step
				redisUpdate(t, s, j, "app", func(*sessions.Session) {})
			}
			sess := mustLoad(t, s, j, "app")
			ttl := e.pttl(t, s.dataKey(sess.ID))
			if ttl > tt.want || ttl < tt.want-5*time.Second {
				t.Errorf("TTL of the session: %v, want %v", ttl, tt.want)
			}
			// An index set lives at least as long as its sessions.
			for _, k := range s.index.current(e.prefix, s.Identity(sess)) {
				if got := e.pttl(t, k); got < ttl-time.Second {
					t.Errorf("TTL of index set %s: %v, want at least %v", strings.TrimPrefix(k, e.prefix), got, ttl)
				}
			}
			if created, saved := s.Activity(sess); saved.Sub(created) != tt.elapsed {
				t.Errorf("Activity: created %v, saved %v; want %v apart", created, saved, tt.elapsed)
			}
		})
	}
}

// TestRedisTimeouts: the timeouts are enforced from the sealed times, whatever
// the TTL (here the clock runs ahead of Redis).
func TestRedisTimeouts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   RedisConfig
		saves []time.Duration // clock steps, each followed by a save
		wait  time.Duration   // then the clock steps this much before a load
		ok    bool
	}{
		{"fresh", RedisConfig{IdleTimeout: time.Hour}, nil, 59 * time.Minute, true},
		{"idle", RedisConfig{IdleTimeout: time.Hour}, nil, time.Hour, false},
		{"idle slides", RedisConfig{IdleTimeout: time.Hour}, every(50*time.Minute, 5), 59 * time.Minute, true},
		{"absolute", RedisConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 4 * time.Hour}, every(50*time.Minute, 4), 40 * time.Minute, false},
		{"idle skipped", RedisConfig{SkipIdleTimeout: true, AbsoluteTimeout: 4 * time.Hour}, nil, 3 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRedisEnv(t)
			now := newClock()
			tt.cfg.Now = now.Now
			s := e.store(t, tt.cfg)
			j := jar{}
			redisUpdate(t, s, j, "app", func(sess *sessions.Session) { sess.Values["v"] = 1 })
			for _, d := range tt.saves {
				now.Advance(d)
				redisUpdate(t, s, j, "app", func(sess *sessions.Session) {})
			}
			now.Advance(tt.wait)
			sess, err := load(t, s, j, "app")
			switch {
			case tt.ok && err != nil:
				t.Fatalf("New: %v, want the session", err)
			case !tt.ok && !errors.Is(err, ErrExpired):
				t.Fatalf("New: %v, want ErrExpired", err)
			case !tt.ok:
				wantFreshRedis(t, sess)
			}
		})
	}
}

// TestRedisKeyRotation: after a new secret is put first, sessions stored under
// the old one still load, their cookies are re-tagged under the new one at
// the next save, and EndSessions finds them in the index.
func TestRedisKeyRotation(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	old := e.store(t, RedisConfig{}, secret('1'))
	alice := Identity{Issuer: "https://op.example", Subject: "alice"}
	j, _ := login(t, old, alice, map[any]any{"v": 1})
	j2, _ := login(t, old, alice, map[any]any{"v": 2})

	rotated := e.store(t, RedisConfig{}, secret('2'), secret('1'))
	before := j["app"]
	redisUpdate(t, rotated, j, "app", func(sess *sessions.Session) {})
	if j["app"] == before {
		t.Error("the cookie was not re-tagged under the new secret")
	}
	if _, err := load(t, old, j, "app"); !errors.Is(err, ErrInvalid) {
		t.Errorf("re-tagged cookie with the old secret only: %v, want ErrInvalid", err)
	}
	if n, err := rotated.EndSessions(context.Background(), alice); n != 2 || err != nil {
		t.Errorf("EndSessions: %d, %v; want both sessions", n, err)
	}
	for _, jj := range []jar{j, j2} {
		if _, err := load(t, rotated, jj, "app"); !errors.Is(err, ErrExpired) {
			t.Errorf("ended session: %v, want ErrExpired", err)
		}
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis holds %q", keys)
	}

	// A store without the old secret cannot open the old values.
	j3, _ := login(t, old, Identity{}, nil)
	fresh := e.store(t, RedisConfig{}, secret('2'))
	if _, err := load(t, fresh, j3, "app"); !errors.Is(err, ErrInvalid) {
		t.Errorf("session of a dropped secret: %v, want ErrInvalid", err)
	}
}

// TestRedisSealedUnderKey: a sealed value copied to another session's key
// does not open.
func TestRedisSealedUnderKey(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	ctx := context.Background()
	_, mallory := login(t, s, Identity{}, map[any]any{"user": "mallory"})
	j, alice := login(t, s, Identity{}, map[any]any{"user": "alice"})
	raw, err := e.client.Get(ctx, s.dataKey(mallory.ID)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.Set(ctx, s.dataKey(alice.ID), raw, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, s, j, "app"); !errors.Is(err, ErrInvalid) {
		t.Errorf("value moved to another key: %v, want ErrInvalid", err)
	}
}

// TestReload: Reload sees what another request saved, and reports a session
// ended since.
func TestReload(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	alice := Identity{Issuer: "https://op.example", Subject: "alice"}
	j, _ := login(t, s, alice, map[any]any{"token": "old"})
	waiter := mustLoad(t, s, j, "app")
	redisUpdate(t, s, j, "app", func(sess *sessions.Session) { sess.Values["token"] = "new" })

	ctx := context.Background()
	if err := s.Reload(ctx, waiter); err != nil || waiter.Values["token"] != "new" {
		t.Fatalf("Reload: %v, token %v; want the new token", err, waiter.Values["token"])
	}
	if err := s.Reload(ctx, sessions.NewSession(s, "app")); err == nil {
		t.Error("Reload of a session never stored succeeded")
	}
	if _, err := s.EndSessions(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx, waiter); !errors.Is(err, ErrExpired) || waiter.Values["token"] != "new" {
		t.Errorf("Reload of an ended session: %v, values %v; want ErrExpired and the session unchanged", err, waiter.Values)
	}
}

func TestNewRedisStoreConfig(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { client.Close(); cluster.Close(); ring.Close() })
	keys := [][]byte{secret('k')}
	tests := []struct {
		name   string
		client redis.UniversalClient
		keys   [][]byte
		cfg    RedisConfig
		ok     bool
	}{
		{"zero config", client, keys, RedisConfig{}, true},
		{"nil client", nil, keys, RedisConfig{}, false},
		{"no keys", client, nil, RedisConfig{}, false},
		{"short key", client, [][]byte{[]byte("short")}, RedisConfig{}, false},
		{"SameSite=None without Secure", client, keys, RedisConfig{SameSite: http.SameSiteNoneMode}, false},
		{"sub-second timeout", client, keys, RedisConfig{IdleTimeout: time.Millisecond}, false},
		{"bad path", client, keys, RedisConfig{Path: "x"}, false},
		{"negative OpTimeout", client, keys, RedisConfig{OpTimeout: -time.Second}, false},
		{"cluster without hash tag", cluster, keys, RedisConfig{}, false},
		{"cluster with hash tag", cluster, keys, RedisConfig{KeyPrefix: "{keyway}:"}, true},
		{"cluster with empty hash tag", cluster, keys, RedisConfig{KeyPrefix: "{}keyway:"}, false},
		{"ring without hash tag", ring, keys, RedisConfig{KeyPrefix: "app:"}, false},
		{"ring with hash tag", ring, keys, RedisConfig{KeyPrefix: "app:{s}:"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := NewRedisStore(tt.client, tt.keys, tt.cfg)
			if tt.ok != (err == nil) || (err == nil) != (s != nil) {
				t.Fatalf("NewRedisStore: %v, %v; want ok=%v", s, err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "session: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

// TestRedisSessionNames: names are checked as by CookieStore.
func TestRedisSessionNames(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	s := offlineStore(t, &calls, RedisConfig{})
	for _, name := range []string{"a.b", "__Host-app", "", "a b"} {
		sess, err := s.New(httptest.NewRequest(http.MethodGet, "/", nil), name)
		if err == nil {
			t.Errorf("New(%q) succeeded", name)
		}
		if sess == nil {
			t.Fatalf("New(%q) returned a nil session", name)
		}
		if err := s.Save(nil, httptest.NewRecorder(), sess); err == nil {
			t.Errorf("Save(%q) succeeded", name)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("%d Redis calls for invalid names", calls.Load())
	}
}

// TestRedisLogger: rejected cookies are logged, by kind, without values.
func TestRedisLogger(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var calls atomic.Int64
	s := offlineStore(t, &calls, RedisConfig{Logger: logger})
	for _, value := range []string{"forged", s.ids.encode("app", newID())} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: "app", Value: value})
		s.New(r, "app")
	}
	logged := out.String()
	if !strings.Contains(logged, "level=INFO") || !strings.Contains(logged, "level=DEBUG") {
		t.Errorf("log lacks the invalid (INFO) or expired (DEBUG) cookie:\n%s", logged)
	}
	if strings.Contains(logged, "forged") {
		t.Errorf("log shows a cookie value:\n%s", logged)
	}
}
