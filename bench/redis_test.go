package bench

import (
	"bufio"
	"context"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/session"
)

// The Redis benchmarks run session.RedisStore against the real Redis named
// by KEYWAY_REDIS_URL (as ../test.sh sets it), and are skipped when it is
// unset.
const redisURLVar = "KEYWAY_REDIS_URL"

// benchRedis returns a client of the Redis at KEYWAY_REDIS_URL and a key
// prefix of the caller's own, whose keys are deleted at cleanup. It skips tb
// when the variable is unset.
func benchRedis(tb testing.TB) (*redis.Client, string) {
	tb.Helper()
	u := os.Getenv(redisURLVar)
	if u == "" {
		tb.Skipf("%s is not set: no Redis to measure (see README.md)", redisURLVar)
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatalf("%s: %v", redisURLVar, err)
	}
	opt.ContextTimeoutEnabled = true // as session.RedisConfig.OpTimeout advises
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		tb.Fatalf("Redis at %s: %v", opt.Addr, err)
	}
	prefix := "keyway-bench:" + randomString(12) + ":"
	tb.Cleanup(func() {
		deleteKeys(tb, client, prefix)
		client.Close()
	})
	return client, prefix
}

// deleteKeys deletes the keys that start with prefix.
func deleteKeys(tb testing.TB, client *redis.Client, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	keys := scanKeys(tb, client, prefix)
	for batch := range slices.Chunk(keys, 1000) {
		if err := client.Unlink(ctx, batch...).Err(); err != nil {
			tb.Errorf("UNLINK: %v", err)
			return
		}
	}
}

// scanKeys returns the keys that start with prefix.
func scanKeys(tb testing.TB, client *redis.Client, prefix string) []string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("SCAN: %v", err)
	}
	return keys
}

// redisStore returns session.NewRedisStore on client under prefix, with one
// 32-byte secret and otherwise the zero RedisConfig. Each new session it
// saves is first bound, as the rp binds one at login, to an identity of its
// own (a user with one session): a save then also keeps the session in the
// index sets of its sid and its subject.
func redisStore(tb testing.TB, client *redis.Client, prefix string) store {
	tb.Helper()
	rs, err := session.NewRedisStore(client, [][]byte{randomKey(32)}, session.RedisConfig{KeyPrefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return store{name: "keyway-redis", Store: rs, bind: func(s *sessions.Session) {
		rs.Bind(s, session.Identity{
			Issuer:  "https://id.example.com",
			Subject: randomString(36),
			SID:     randomString(36),
		})
	}}
}

// BenchmarkRedisSession measures the round trips a request makes to a
// RedisStore holding the realistic 3 KB token set (see sessionSizes): load
// (Get: one GET), save (Save: one script writing the sealed value and the
// session's two index entries) and load+save (both, one request), as
// BenchmarkSession does for cookies; op=ping is a bare PING on the same
// client, the round trip every operation pays. On loopback that round trip,
// not Keyway's work, is most of the time; cpu-ns/op counts this process
// only, not redis-server.
func BenchmarkRedisSession(b *testing.B) {
	client, prefix := benchRedis(b)
	st := redisStore(b, client, prefix)
	values := tokenSet()
	next, _, err := saved(st, values)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("op=ping", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		n, cpu := 0, startCPU()
		defer func() { cpu.report(b, n) }()
		for b.Loop() {
			if err := client.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
	for _, op := range []string{"load", "save", "load+save"} {
		b.Run("op="+op, func(b *testing.B) {
			benchSessionOp(b, st, op, values, next)
		})
	}
}

// redisSessions is how many sessions TestRedisSessionSize stores to measure
// Redis's memory growth per session.
const redisSessions = 2000

// TestRedisSessionSize measures what a session costs in Redis, for each size
// of sessionSizes: MEMORY USAGE (all samples) of its data key and of its two
// index sets, as for a user with one session; and, as a cross-check that
// includes Redis's own bookkeeping (main and expiry dictionaries), the
// growth of used_memory while 2,000 more such sessions are stored. The
// second is exact only when nothing else writes to this Redis meanwhile.
// Run with -v to see the numbers.
func TestRedisSessionSize(t *testing.T) {
	client, prefix := benchRedis(t)
	ctx := context.Background()
	for _, size := range sessionSizes {
		t.Run("size="+size.name, func(t *testing.T) {
			prefix := prefix + size.name + ":"
			st := redisStore(t, client, prefix)
			values := size.values()
			next, _, err := saved(st, values)
			if err != nil {
				t.Fatalf("save: %v", err)
			}
			sess, err := st.Get(next, sessionName)
			if err != nil || sess.IsNew || !reflect.DeepEqual(sess.Values, values) {
				t.Fatalf("load: new %v, error %v, values round-trip %v", sess.IsNew, err, reflect.DeepEqual(sess.Values, values))
			}

			var data, index, sealed int64
			keys := scanKeys(t, client, prefix)
			for _, k := range keys {
				n, err := client.MemoryUsage(ctx, k, 0).Result()
				if err != nil {
					t.Fatalf("MEMORY USAGE %s: %v", k, err)
				}
				if strings.HasPrefix(k, prefix+"s:") {
					data += n
					sealed = client.StrLen(ctx, k).Val()
				} else {
					index += n
				}
			}
			if len(keys) != 3 || data == 0 {
				t.Fatalf("keys of one session: %q, want its data and two index sets", keys)
			}
			total := data + index

			before := usedMemory(t, client)
			for range redisSessions {
				if _, _, err := saved(st, values); err != nil {
					t.Fatalf("save: %v", err)
				}
			}
			grown := (usedMemory(t, client) - before) / redisSessions
			deleteKeys(t, client, prefix)

			t.Logf("%d bytes of values, sealed value %d bytes: MEMORY USAGE %d bytes (data key %d, index sets %d); used_memory grew %d bytes per session over %d",
				valuesSize(values), sealed, total, data, index, grown, redisSessions)
			t.Logf("sessions per GB (10^9 bytes): %d by MEMORY USAGE, %d by used_memory", 1_000_000_000/total, 1_000_000_000/max(grown, 1))
			if size.name == "3KB" && total > 8<<10 {
				t.Errorf("the realistic session takes %d bytes of Redis, want under 8 KiB", total)
			}
		})
	}
}

// usedMemory returns Redis's used_memory (INFO memory).
func usedMemory(tb testing.TB, client *redis.Client) int64 {
	tb.Helper()
	info, err := client.Info(context.Background(), "memory").Result()
	if err != nil {
		tb.Fatalf("INFO memory: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "used_memory:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				tb.Fatalf("INFO memory: used_memory %q: %v", v, err)
			}
			return n
		}
	}
	tb.Fatal("INFO memory: no used_memory")
	return 0
}
