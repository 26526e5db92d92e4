package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/internal/testenv"
)

// redisEnv is one test's corner of the test Redis: a client that counts round
// trips, and a random key prefix whose keys are deleted at cleanup, so tests
// run in parallel and leave nothing behind.
type redisEnv struct {
	client *redis.Client
	prefix string
	trips  atomic.Int64 // round trips made through client
}

// newRedisEnv connects to the Redis named by testenv.RedisURL (skipping, or
// failing under CI=true, without one).
func newRedisEnv(tb testing.TB) *redisEnv {
	tb.Helper()
	opt, err := redis.ParseURL(testenv.RedisURL(tb))
	if err != nil {
		tb.Fatalf("parse %s: %v", testenv.RedisURLVar, err)
	}
	return newRedisEnvFor(tb, opt)
}

func newRedisEnvFor(tb testing.TB, opt *redis.Options) *redisEnv {
	tb.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	e := &redisEnv{client: redis.NewClient(opt), prefix: "keyway-test:" + hex.EncodeToString(b) + ":"}
	e.client.AddHook(tripCounter{&e.trips})
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, err := e.scan(ctx); err == nil && len(keys) > 0 {
			e.client.Del(ctx, keys...)
		}
		e.client.Close()
	})
	return e
}

// store returns a RedisStore on the env's prefix, sealing with keys or with
// secret('k').
func (e *redisEnv) store(tb testing.TB, cfg RedisConfig, keys ...[]byte) *RedisStore {
	tb.Helper()
	if len(keys) == 0 {
		keys = [][]byte{secret('k')}
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = e.prefix
	}
	s, err := NewRedisStore(e.client, keys, cfg)
	if err != nil {
		tb.Fatalf("NewRedisStore: %v", err)
	}
	return s
}

// scan returns the env's keys.
func (e *redisEnv) scan(ctx context.Context) ([]string, error) {
	var keys []string
	iter := e.client.Scan(ctx, 0, e.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	slices.Sort(keys)
	return keys, iter.Err()
}

// keys returns the env's keys, or fails.
func (e *redisEnv) keys(tb testing.TB) []string {
	tb.Helper()
	keys, err := e.scan(context.Background())
	if err != nil {
		tb.Fatalf("scan: %v", err)
	}
	return keys
}

// ping waits (up to 5 s) for the server to answer.
func (e *redisEnv) ping(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.client.Ping(ctx).Err(); err != nil {
		tb.Fatalf("PING: %v", err)
	}
}

// exists reports whether key exists.
func (e *redisEnv) exists(tb testing.TB, key string) bool {
	tb.Helper()
	n, err := e.client.Exists(context.Background(), key).Result()
	if err != nil {
		tb.Fatalf("EXISTS: %v", err)
	}
	return n == 1
}

// pttl returns the TTL of key.
func (e *redisEnv) pttl(tb testing.TB, key string) time.Duration {
	tb.Helper()
	d, err := e.client.PTTL(context.Background(), key).Result()
	if err != nil {
		tb.Fatalf("PTTL: %v", err)
	}
	return d
}

// tripCounter counts round trips: commands, and pipelines as one.
type tripCounter struct{ n *atomic.Int64 }

func (h tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// offlineStore returns a RedisStore whose client never reaches a server: it
// counts the commands it is asked for in calls and answers GET with redis.Nil,
// as for a session not in Redis.
func offlineStore(tb testing.TB, calls *atomic.Int64, cfg RedisConfig, keys ...[]byte) *RedisStore {
	tb.Helper()
	client := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1",
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			tb.Error("offline store dialled Redis")
			return nil, net.ErrClosed
		},
	})
	client.AddHook(offline{calls})
	tb.Cleanup(func() { client.Close() })
	if len(keys) == 0 {
		keys = [][]byte{secret('k')}
	}
	s, err := NewRedisStore(client, keys, cfg)
	if err != nil {
		tb.Fatalf("NewRedisStore: %v", err)
	}
	return s
}

type offline struct{ calls *atomic.Int64 }

func (h offline) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h offline) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.calls.Add(1)
		cmd.SetErr(redis.Nil)
		return redis.Nil
	}
}

func (h offline) ProcessPipelineHook(redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.calls.Add(1)
		return redis.Nil
	}
}

// redisUpdate loads the session called name from the jar, lets change edit
// it, saves it and applies the response to the jar. It returns the saved
// session.
func redisUpdate(tb testing.TB, s *RedisStore, j jar, name string, change func(*sessions.Session)) *sessions.Session {
	tb.Helper()
	r := j.request()
	sess, err := s.New(r, name)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	change(sess)
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		tb.Fatalf("Save: %v", err)
	}
	j.apply(rec)
	return sess
}

// login saves a new session called "app" bound to id, holding values, into a
// new jar, as rp does at login.
func login(tb testing.TB, s *RedisStore, id Identity, values map[any]any) (jar, *sessions.Session) {
	tb.Helper()
	j := jar{}
	sess := redisUpdate(tb, s, j, "app", func(sess *sessions.Session) {
		s.Rotate(sess)
		s.Bind(sess, id)
		for k, v := range values {
			sess.Values[k] = v
		}
	})
	return j, sess
}

// setCookies returns the Set-Cookie lines of rec.
func setCookies(rec *httptest.ResponseRecorder) []*http.Cookie {
	return rec.Result().Cookies()
}
