package session

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// TestLockExclusive: requests of one session on two "replicas" (two stores
// sharing the Redis) contend for its lock; one holds it at a time, and each
// waiter, after Reload, sees the work of the holders before it.
func TestLockExclusive(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	replicas := []*RedisStore{e.store(t, RedisConfig{}), e.store(t, RedisConfig{})}
	j, _ := login(t, replicas[0], Identity{}, map[any]any{"n": 0})

	var holders, maxHolders atomic.Int32
	var wg sync.WaitGroup
	const requests = 20
	for i := range requests {
		wg.Go(func() {
			s := replicas[i%2]
			r := j.request()
			sess, err := s.New(r, "app")
			if err != nil {
				t.Error(err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			unlock, err := s.Lock(ctx, sess, 5*time.Second)
			if err != nil {
				t.Errorf("Lock: %v", err)
				return
			}
			defer unlock()
			if h := holders.Add(1); h > maxHolders.Load() {
				maxHolders.Store(h)
			}
			defer holders.Add(-1)
			if err := s.Reload(ctx, sess); err != nil {
				t.Errorf("Reload: %v", err)
				return
			}
			sess.Values["n"] = sess.Values["n"].(int) + 1
			time.Sleep(time.Millisecond)
			if err := s.Save(r, httptest.NewRecorder(), sess); err != nil {
				t.Errorf("Save: %v", err)
			}
		})
	}
	wg.Wait()
	if maxHolders.Load() != 1 {
		t.Errorf("%d requests held the lock at once", maxHolders.Load())
	}
	if n := mustLoad(t, replicas[0], j, "app").Values["n"]; n != requests {
		t.Errorf("n = %v after %d locked increments: an update was lost", n, requests)
	}
}

// TestLockWaitBounded: a waiter gives up with ErrLocked when its context ends.
func TestLockWaitBounded(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	_, sess := login(t, s, Identity{}, nil)
	unlock, err := s.Lock(context.Background(), sess, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := s.Lock(ctx, sess, time.Minute); !errors.Is(err, ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held lock: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Lock gave up after %v, want about 100ms", d)
	}
}

// TestLockExpires: a lock its holder never releases frees itself after its
// TTL, and the late holder's unlock does not release its successor's lock.
func TestLockExpires(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	_, sess := login(t, s, Identity{}, nil)
	ctx := context.Background()
	stale, err := s.Lock(ctx, sess, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	unlock, err := s.Lock(ctx, sess, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("second Lock got the lock after %v, before the first expired", d)
	}
	stale() // too late: must not release the second holder's lock
	stale() // and again does nothing
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, sess, time.Minute); !errors.Is(err, ErrLocked) {
		t.Errorf("Lock after a stale unlock: %v, want ErrLocked", err)
	}
	unlock()
	again, err := s.Lock(ctx, sess, time.Minute)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	again()
	if keys := e.keys(t); len(keys) != 1 {
		t.Errorf("Redis holds %q, want only the session", keys)
	}
}

func TestLockRejects(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	sess := sessions.NewSession(s, "app")
	if _, err := s.Lock(context.Background(), sess, time.Second); err == nil {
		t.Error("Lock of a session without ID succeeded")
	}
}
