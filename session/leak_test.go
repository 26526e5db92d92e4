package session

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The leak tests are not parallel: they count the goroutines running this
// package's Redis calls, which another test's calls would add to.

// callFrame names the goroutine call starts for each Redis round trip.
const callFrame = "keyway/session.call["

// goroutinesIn returns the stacks of the goroutines other than the
// caller's whose stack holds one of frames, by goroutine ID.
func goroutinesIn(frames ...string) map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the caller's own goroutine comes first
		}
		header, _, _ := strings.Cut(g, "\n") // goroutine 12 [chan receive]:
		fields := strings.Fields(header)
		if len(fields) < 2 {
			continue
		}
		for _, f := range frames {
			if strings.Contains(g, f) {
				out[fields[1]] = g
				break
			}
		}
	}
	return out
}

// leakCheck counts the goroutines running some functions, apart from those
// that ran them when it was made.
type leakCheck struct {
	frames []string
	before map[string]string
}

// newLeakCheck notes the goroutines running frames now.
func newLeakCheck(frames ...string) *leakCheck {
	return &leakCheck{frames: frames, before: goroutinesIn(frames...)}
}

// started returns the goroutines running the frames that started since.
func (lc *leakCheck) started() map[string]string {
	gs := goroutinesIn(lc.frames...)
	for id := range lc.before {
		delete(gs, id)
	}
	return gs
}

// ended fails t unless every goroutine started since ends within d.
func (lc *leakCheck) ended(t testing.TB, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := lc.started()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, g := range left {
				t.Errorf("goroutine still running after %v:\n%s", d, g)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRedisCallsLeaveNoGoroutine: against a working Redis, the goroutine
// of each call ends with it.
func TestRedisCallsLeaveNoGoroutine(t *testing.T) {
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	c, err := NewRedisCache(e.client, RedisCacheConfig{KeyPrefix: e.prefix})
	if err != nil {
		t.Fatal(err)
	}
	lc := newLeakCheck(callFrame)
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
	lc.ended(t, time.Second)
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
			lc := newLeakCheck(callFrame)
			for _, rc := range redisCalls {
				if err := rc.call(s, c); err == nil {
					t.Fatalf("%s succeeded against a hung Redis", rc.name)
				}
			}
			if !tt.opt.ContextTimeoutEnabled && len(lc.started()) == 0 {
				t.Error("no call goroutine seen outliving its call, with the client's timeout longer than OpTimeout")
			}
			lc.ended(t, tt.bound)
		})
	}
}
