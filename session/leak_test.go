package session

import (
	"testing"
	"time"

	"github.com/keyway-go/keyway/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// The leak tests are not parallel: they count the goroutines running this
// package's Redis calls, which another test's calls would add to.

// callFrame names the goroutine call starts for each Redis round trip.
const callFrame = "keyway/session.call["

// TestRedisCallsLeaveNoGoroutine: against a working Redis, the goroutine
// of each call ends with it.
func TestRedisCallsLeaveNoGoroutine(t *testing.T) {
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	c, err := NewRedisCache(e.client, RedisCacheConfig{KeyPrefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	lc := testenv.NewLeakCheck(callFrame)
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	j, _ := login(t, s, alice, map[any]any{"token": "t1"})
	sess := mustLoad(t, s, j, "app")
	if err := s.Reload(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	unlock, err := s.Lock(t.Context(), sess, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := c.Seen(t.Context(), "jti", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(t.Context(), time.Now(), time.Now().Add(time.Minute), "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Latest(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.EndSessions(t.Context(), alice); n != 1 || err != nil {
		t.Fatalf("EndSessions: %d, %v", n, err)
	}
	lc.Ended(t, time.Second)
}

// TestHungRedisCallsEnd: against a hung Redis, each call returns at
// OpTimeout and the goroutine it leaves ends with the client's own bound:
// at once with ContextTimeoutEnabled, within ReadTimeout (no retries)
// without.
func TestHungRedisCallsEnd(t *testing.T) {
	const readTimeout = 700 * time.Millisecond
	for _, tt := range []struct {
		name  string
		opt   *redis.Options
		bound time.Duration // after the last call returned
	}{
		{"ContextTimeoutEnabled", &redis.Options{ContextTimeoutEnabled: true}, time.Second},
		{"client ReadTimeout", &redis.Options{ReadTimeout: readTimeout, WriteTimeout: readTimeout, MaxRetries: -1}, readTimeout + time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, c := hungStoreAndCache(t, tt.opt)
			lc := testenv.NewLeakCheck(callFrame)
			for _, rc := range redisCalls {
				if err := rc.call(s, c); err == nil {
					t.Fatalf("%s succeeded against a hung Redis", rc.name)
				}
			}
			if !tt.opt.ContextTimeoutEnabled && len(lc.Started()) == 0 {
				t.Error("no call goroutine seen outliving its call, with the client's timeout longer than OpTimeout")
			}
			lc.Ended(t, tt.bound)
		})
	}
}
