package interop

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
)

// With SESSION_STORE=redis, examples/webapp keeps its sessions in the test Redis
// under session.RedisStore's default key prefix. The session cookie holds
// "<ID>.<tag>"; the session's data is at "keyway:s:<ID>", and its ID is a member
// of an index set for its sid ("keyway:sid:…") and one for its subject
// ("keyway:sub:…"), whose names are MACs the test cannot compute but can find.
const redisKeyPrefix = "keyway:"

// requireStore skips t, or fails it under CI=true, when the session store store
// needs a part that is missing (Redis for "redis"), before the test starts
// anything.
func requireStore(t testing.TB, store string) {
	t.Helper()
	if store == "redis" {
		testenv.RedisURL(t)
	}
}

// redisClient returns a client of the Redis at redisURL, closed in t.Cleanup.
func redisClient(t testing.TB, redisURL string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatalf("interop: REDIS_URL %q: %v", redisURL, err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// sessionID returns the session ID held by the app's session cookie in browser c,
// with the Redis store.
func (a *webapp) sessionID(t testing.TB, c *http.Client) string {
	t.Helper()
	u, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			id, _, ok := strings.Cut(ck.Value, ".")
			if !ok || id == "" {
				t.Fatalf("interop: session cookie %q is not <ID>.<tag>", ck.Value)
			}
			return id
		}
	}
	t.Fatalf("interop: no %s cookie for %s in the browser", sessionCookie, a.URL)
	return ""
}

// redisKeys returns the Redis keys that hold the session with ID id: its data key,
// if present, and the index sets that list it.
func (a *webapp) redisKeys(t testing.TB, id string) []string {
	t.Helper()
	if a.Redis == nil {
		t.Fatal("interop: redisKeys of a web app without Redis sessions")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var keys []string
	data := redisKeyPrefix + "s:" + id
	n, err := a.Redis.Exists(ctx, data).Result()
	if err != nil {
		t.Fatalf("interop: EXISTS %s: %v", data, err)
	}
	if n == 1 {
		keys = append(keys, data)
	}
	for _, kind := range []string{"sid:", "sub:"} {
		iter := a.Redis.Scan(ctx, 0, redisKeyPrefix+kind+"*", 1000).Iterator()
		for iter.Next(ctx) {
			member, err := a.Redis.SIsMember(ctx, iter.Val(), id).Result()
			if err != nil {
				t.Fatalf("interop: SISMEMBER %s: %v", iter.Val(), err)
			}
			if member {
				keys = append(keys, iter.Val())
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatalf("interop: SCAN %s*: %v", redisKeyPrefix+kind, err)
		}
	}
	return keys
}

// keysOf returns those of keys that are of kind: "s:" (session data), "sid:" or
// "sub:" (index sets).
func keysOf(keys []string, kind string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, redisKeyPrefix+kind) {
			out = append(out, k)
		}
	}
	return out
}

// requireRedisSession checks that the session with ID id is in Redis, its data
// and its index entries, for its sid too when withSID is set, and returns its
// keys.
func (a *webapp) requireRedisSession(t testing.TB, id string, withSID bool) []string {
	t.Helper()
	keys := a.redisKeys(t, id)
	if len(keysOf(keys, "s:")) != 1 || len(keysOf(keys, "sub:")) != 1 || (len(keysOf(keys, "sid:")) == 1) != withSID {
		t.Errorf("Redis keys of the session: %q, want its data and its sub index entry (and a sid one: %v)", keys, withSID)
	}
	return keys
}
