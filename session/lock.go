package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
)

// ErrLocked means Lock gave up waiting for a session's lock, held by another
// request (on this replica or another), because its context ended.
var ErrLocked = errors.New("session: session locked")

// Lock timings.
const (
	defaultLockTTL = 10 * time.Second
	lockPollMin    = 5 * time.Millisecond
	lockPollMax    = 100 * time.Millisecond
)

// unlockScript deletes a lock only while it holds the unlocker's token, so a
// holder whose lock expired cannot release its successor's.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// Lock takes the lock of sess, shared by every replica using the Redis: the
// key KeyPrefix+"lock:"+ID set, if absent, to a random token for ttl (0 means
// 10 seconds). It waits while another request holds the lock, polling from
// every 5 to every 100 milliseconds, until the lock is free or has expired, or
// until ctx ends (ErrLocked): bound the wait with ctx. Each attempt is
// bounded by OpTimeout; a Redis failure returns ErrUnavailable at once.
//
// unlock releases the lock if it still holds this token, with its own
// OpTimeout (so it works after ctx has ended); calling it again does nothing.
// A lock expires after ttl whatever its holder does: make ttl longer than the
// work it guards.
//
// The pattern for work one replica must do once, such as refreshing tokens:
// check whether the work is needed; if so, Lock, then Reload the session
// (another holder may have done the work while this request waited), check
// again, do the work, Save, and unlock.
func (s *RedisStore) Lock(ctx context.Context, sess *sessions.Session, ttl time.Duration) (unlock func(), err error) {
	if !validID(sess.ID) {
		return nil, errors.New("session: Lock of a session without an ID made by this store")
	}
	if ttl <= 0 {
		ttl = defaultLockTTL
	}
	key, token := s.keyPrefix+"lock:"+sess.ID, newID()
	for wait, held := lockPollMin, false; ; wait, held = min(2*wait, lockPollMax), true {
		ok, err := call(ctx, s.opTimeout, "lock session", func(ctx context.Context) (bool, error) {
			return s.client.SetNX(ctx, key, token, ttl).Result()
		})
		switch {
		case err != nil && held && ctx.Err() != nil:
			// The caller gave up while the lock was held by another.
			return nil, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		case err != nil:
			return nil, err
		case ok:
			return s.unlocker(key, token), nil
		}
		// Jitter spreads the retries of waiters that started together.
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrLocked, ctx.Err())
		case <-t.C:
		}
	}
}

// unlocker returns the unlock function of the lock key holding token.
func (s *RedisStore) unlocker(key, token string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			_, err := call(context.Background(), s.opTimeout, "unlock session", func(ctx context.Context) (any, error) {
				return unlockScript.Run(ctx, s.client, []string{key}, token).Result()
			})
			if err != nil && s.cfg.Logger != nil {
				s.cfg.Logger.Warn("session: unlock failed; the lock expires by itself", slog.String("error", err.Error()))
			}
		})
	}
}
