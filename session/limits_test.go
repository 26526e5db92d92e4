package session

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// hungRedis listens on a loopback port, accepts connections and reads
// what they send, but never answers, as a hung Redis does. It needs no
// redis-server, unlike TestRedisHung. It returns the address.
func hungRedis(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // ends when the cleanup closes c
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// redisCall is one method of the store or the cache that asks Redis.
type redisCall struct {
	name string
	call func(s *RedisStore, c *RedisCache) error
}

// redisCalls lists the calls that can be made without a session stored
// in Redis first.
var redisCalls = []redisCall{
	{"New", func(s *RedisStore, _ *RedisCache) error {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: "app", Value: s.ids.encode("app", newID())})
		_, err := s.New(r, "app")
		return err
	}},
	{"Save", func(s *RedisStore, _ *RedisCache) error {
		sess, _ := s.New(httptest.NewRequest(http.MethodGet, "/", nil), "app")
		sess.Values["v"] = 1
		return s.Save(nil, httptest.NewRecorder(), sess)
	}},
	{"Lock", func(s *RedisStore, _ *RedisCache) error {
		sess, _ := s.New(httptest.NewRequest(http.MethodGet, "/", nil), "app")
		_, err := s.Lock(context.Background(), sess, time.Second)
		return err
	}},
	{"EndSessions", func(s *RedisStore, _ *RedisCache) error {
		_, err := s.EndSessions(context.Background(), Identity{Issuer: "https://op.example", Subject: "alice"})
		return err
	}},
	{"Seen", func(_ *RedisStore, c *RedisCache) error {
		_, err := c.Seen(context.Background(), "jti", time.Now().Add(time.Minute))
		return err
	}},
	{"Record", func(_ *RedisStore, c *RedisCache) error {
		return c.Record(context.Background(), time.Now(), time.Now().Add(time.Minute), "k")
	}},
	{"Latest", func(_ *RedisStore, c *RedisCache) error {
		_, err := c.Latest(context.Background(), "k")
		return err
	}},
}

// hungStoreAndCache returns a store and a cache on a hung Redis, through
// a client with opt's settings, both bounded by outageOpTimeout.
func hungStoreAndCache(tb testing.TB, opt *redis.Options) (*RedisStore, *RedisCache) {
	tb.Helper()
	opt.Addr = hungRedis(tb)
	client := redis.NewClient(opt)
	tb.Cleanup(func() { client.Close() })
	s, err := NewRedisStore(client, [][]byte{secret('k')}, RedisConfig{OpTimeout: outageOpTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := NewRedisCache(client, RedisCacheConfig{OpTimeout: outageOpTimeout})
	if err != nil {
		tb.Fatal(err)
	}
	return s, c
}

// TestHungRedisListener: against a Redis that accepts connections and
// never answers, every call fails with ErrUnavailable at OpTimeout, with
// go-redis's default options (which would wait seconds) as with
// ContextTimeoutEnabled.
func TestHungRedisListener(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]func() *redis.Options{
		"client defaults":       func() *redis.Options { return &redis.Options{} },
		"ContextTimeoutEnabled": func() *redis.Options { return &redis.Options{ContextTimeoutEnabled: true} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, c := hungStoreAndCache(t, opt())
			for _, rc := range redisCalls {
				err, took := timed(func() error { return rc.call(s, c) })
				wantUnavailable(t, rc.name, err, took)
			}
		})
	}
}
