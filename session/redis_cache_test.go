package session

import (
	"cmp"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// cache returns a RedisCache on the env's prefix.
func (e *redisEnv) cache(tb testing.TB, cfg RedisCacheConfig) *RedisCache {
	tb.Helper()
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = e.prefix
	}
	c, err := NewRedisCache(e.client, cfg)
	if err != nil {
		tb.Fatalf("NewRedisCache: %v", err)
	}
	return c
}

// TestRedisCacheSeen: a key is new once, until it expires, and lives in Redis
// until the time it was given.
func TestRedisCacheSeen(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	c := e.cache(t, RedisCacheConfig{})
	ctx := context.Background()
	until := time.Now().Add(time.Minute)

	seen := func(key string, until time.Time) bool {
		t.Helper()
		ok, err := c.Seen(ctx, key, until)
		if err != nil {
			t.Fatalf("Seen(%q): %v", key, err)
		}
		return ok
	}
	if seen("jti:a", until) {
		t.Fatal("a new key was seen")
	}
	if !seen("jti:a", until) {
		t.Fatal("a recorded key was not seen")
	}
	if seen("jti:b", until) {
		t.Fatal("another key was seen")
	}
	key := e.prefix + "r:jti:a"
	if d := e.pttl(t, key); d < 58*time.Second || d > time.Minute {
		t.Errorf("%s expires in %v, want at until (1 min)", key, d)
	}

	// A key is forgotten at its until, and can then be recorded again.
	if seen("jti:short", time.Now().Add(100*time.Millisecond)) {
		t.Fatal("a new key was seen")
	}
	time.Sleep(200 * time.Millisecond)
	if seen("jti:short", until) {
		t.Error("a key was seen after its until")
	}
}

// TestRedisCacheSeenConcurrent: of concurrent calls with one key from two
// replicas, exactly one finds it new.
func TestRedisCacheSeenConcurrent(t *testing.T) {
	t.Parallel()
	a, b := newRedisEnv(t), newRedisEnv(t)
	caches := []*RedisCache{a.cache(t, RedisCacheConfig{}), b.cache(t, RedisCacheConfig{KeyPrefix: a.prefix})}
	until := time.Now().Add(time.Minute)
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			seen, err := caches[i%2].Seen(context.Background(), "jti:x", until)
			if err != nil {
				t.Error(err)
			}
			if !seen {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	if n := fresh.Load(); n != 1 {
		t.Fatalf("%d of 50 concurrent calls found the key new, want 1", n)
	}
}

// TestRedisCacheLogouts: Latest answers the latest unexpired logout of any
// of its keys, exactly; a logout recorded again keeps the later time.
func TestRedisCacheLogouts(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	c := e.cache(t, RedisCacheConfig{})
	ctx := context.Background()
	now := time.Now()
	until := now.Add(time.Hour)

	latest := func(keys ...string) time.Time {
		t.Helper()
		at, err := c.Latest(ctx, keys...)
		if err != nil {
			t.Fatalf("Latest(%q): %v", keys, err)
		}
		return at
	}
	record := func(at, until time.Time, keys ...string) {
		t.Helper()
		if err := c.Record(ctx, at, until, keys...); err != nil {
			t.Fatalf("Record(%q): %v", keys, err)
		}
	}
	if at := latest("sid", "sub"); !at.IsZero() {
		t.Fatalf("Latest before any logout: %v, want zero", at)
	}
	if at := latest(); !at.IsZero() {
		t.Fatalf("Latest of no keys: %v, want zero", at)
	}

	t1 := now.Add(-time.Minute + 123*time.Nanosecond) // nanoseconds count
	record(t1, until, "sid", "other")
	if at := latest("sid", "sub"); !at.Equal(t1) {
		t.Fatalf("Latest: %v, want %v", at, t1)
	}
	if d := e.pttl(t, e.prefix+"l:sid"); d < 59*time.Minute || d > time.Hour {
		t.Errorf("logout entry expires in %v, want at until (1 h)", d)
	}

	// An earlier logout, from a replica whose clock is behind, keeps the
	// later one; a later one replaces it; the latest of the keys wins.
	record(t1.Add(-time.Nanosecond), until, "sid")
	if at := latest("sid"); !at.Equal(t1) {
		t.Errorf("after an earlier logout: %v, want the later %v", at, t1)
	}
	t2 := t1.Add(time.Nanosecond)
	record(t2, until, "sid")
	if at := latest("sid"); !at.Equal(t2) {
		t.Errorf("after a later logout: %v, want %v", at, t2)
	}
	t3 := t2.Add(time.Second)
	record(t3, until, "sub")
	if at := latest("sid", "sub", "none"); !at.Equal(t3) {
		t.Errorf("Latest of three keys: %v, want the latest %v", at, t3)
	}
	if at := latest("other"); !at.Equal(t1) {
		t.Errorf("a second key of one Record: %v, want %v", at, t1)
	}

	// Entries expire at their until.
	record(t3, time.Now().Add(100*time.Millisecond), "short")
	time.Sleep(200 * time.Millisecond)
	if at := latest("short"); !at.IsZero() {
		t.Errorf("an expired logout is still there: %v", at)
	}

	// Seen and Record keep apart: a replay key is no logout.
	if _, err := c.Seen(ctx, "both", until); err != nil {
		t.Fatal(err)
	}
	if at := latest("both"); !at.IsZero() {
		t.Errorf("a seen key counts as a logout at %v", at)
	}
}

// TestRedisCacheRoundTrips: Latest is one MGET whatever the number of keys;
// Seen and Record are one call each, and nothing without keys.
func TestRedisCacheRoundTrips(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	c := e.cache(t, RedisCacheConfig{})
	ctx, until := context.Background(), time.Now().Add(time.Minute)
	if err := c.Record(ctx, time.Now(), until, "warm-up"); err != nil { // loads the script
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		f    func() error
		want int64
	}{
		{"Seen", func() error { _, err := c.Seen(ctx, "k", until); return err }, 1},
		{"Record of three keys", func() error { return c.Record(ctx, time.Now(), until, "a", "b", "c") }, 1},
		{"Latest of three keys", func() error { _, err := c.Latest(ctx, "a", "b", "c"); return err }, 1},
		{"Record of no key", func() error { return c.Record(ctx, time.Now(), until) }, 0},
		{"Latest of no key", func() error { _, err := c.Latest(ctx); return err }, 0},
	} {
		before := e.trips.Load()
		if err := tt.f(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if n := e.trips.Load() - before; n != tt.want {
			t.Errorf("%s: %d round trips, want %d", tt.name, n, tt.want)
		}
	}
}

// TestRedisCacheMalformed: an entry that is not a logout time is an error,
// not a missing logout.
func TestRedisCacheMalformed(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	c := e.cache(t, RedisCacheConfig{})
	ctx := context.Background()
	for _, v := range []string{"1", "not a time", "-0000000000000000001", "99999999999999999999", "09999999999999999999"} {
		if err := e.client.Set(ctx, e.prefix+"l:bad", v, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if at, err := c.Latest(ctx, "good", "bad"); err == nil {
			t.Errorf("Latest with entry %q: %v, want an error", v, at)
		}
		// Record overwrites it.
		at := time.Now()
		if err := c.Record(ctx, at, at.Add(time.Minute), "bad"); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Latest(ctx, "bad"); err != nil || !got.Equal(at) {
			t.Errorf("Record over %q: %v, %v; want %v", v, got, err, at)
		}
	}
	if err := c.Record(ctx, time.Unix(-1, 0), time.Now().Add(time.Minute), "old"); err == nil {
		t.Error("Record of a time before 1970: no error")
	}
}

// TestRedisCacheUnavailable: with Redis hung every call fails with
// ErrUnavailable within OpTimeout; with it back, the cache works with its
// data. A Redis that was never there fails the same way.
func TestRedisCacheUnavailable(t *testing.T) {
	t.Parallel()
	p := startPrivateRedis(t)
	e := newRedisEnvFor(t, &redis.Options{Addr: p.addr})
	c := e.cache(t, RedisCacheConfig{OpTimeout: outageOpTimeout})
	ctx, at, until := context.Background(), time.Now(), time.Now().Add(time.Minute)
	if err := c.Record(ctx, at, until, "sid"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Seen(ctx, "jti", until); err != nil {
		t.Fatal(err)
	}

	check := func(c *RedisCache) {
		t.Helper()
		err, took := timed(func() error { _, err := c.Seen(ctx, "jti2", until); return err })
		wantUnavailable(t, "Seen", err, took)
		err, took = timed(func() error { return c.Record(ctx, at, until, "sub") })
		wantUnavailable(t, "Record", err, took)
		err, took = timed(func() error { _, err := c.Latest(ctx, "sid"); return err })
		wantUnavailable(t, "Latest", err, took)
	}
	p.pause()
	check(c)
	p.resume()
	if seen, err := c.Seen(ctx, "jti", until); err != nil || !seen {
		t.Errorf("Seen after recovery: %t, %v; want the key recorded before", seen, err)
	}
	if got, err := c.Latest(ctx, "sid"); err != nil || !got.Equal(at) {
		t.Errorf("Latest after recovery: %v, %v; want %v", got, err, at)
	}

	client := redis.NewClient(&redis.Options{Addr: freeAddr(t)})
	t.Cleanup(func() { client.Close() })
	gone, err := NewRedisCache(client, RedisCacheConfig{OpTimeout: outageOpTimeout})
	if err != nil {
		t.Fatal(err)
	}
	check(gone)
}

func TestNewRedisCacheConfig(t *testing.T) {
	t.Parallel()
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { single.Close(); cluster.Close(); ring.Close() })
	for _, tt := range []struct {
		name   string
		client redis.UniversalClient
		cfg    RedisCacheConfig
		ok     bool
	}{
		{"defaults", single, RedisCacheConfig{}, true},
		{"nil client", nil, RedisCacheConfig{}, false},
		{"negative OpTimeout", single, RedisCacheConfig{OpTimeout: -time.Second}, false},
		{"cluster without hash tag", cluster, RedisCacheConfig{}, false},
		{"cluster with hash tag", cluster, RedisCacheConfig{KeyPrefix: "{keyway}:"}, true},
		{"ring without hash tag", ring, RedisCacheConfig{KeyPrefix: "app:"}, false},
		{"ring with hash tag", ring, RedisCacheConfig{KeyPrefix: "app:{c}:"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewRedisCache(tt.client, tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewRedisCache: %v, want ok %t", err, tt.ok)
			}
			if tt.ok && (c.keyPrefix == "" || c.opTimeout != cmp.Or(tt.cfg.OpTimeout, defaultOpTimeout)) {
				t.Errorf("defaults not applied: prefix %q, OpTimeout %v", c.keyPrefix, c.opTimeout)
			}
		})
	}
}
