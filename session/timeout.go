package session

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/gorilla/sessions"
)

// times are the moments a session's timeouts run from, to the second.
type times struct {
	created time.Time // when the session was first saved, or rotated
	saved   time.Time // when it was last saved
}

// checkTimeouts returns ErrExpired for a session with times t that is, at now,
// past its absolute timeout or, when idle is set, past its idle timeout. A
// session expires at the very second its timeout is reached.
func (cfg CookieConfig) checkTimeouts(t times, now time.Time, idle bool) error {
	if !now.Before(t.created.Add(cfg.AbsoluteTimeout)) {
		return fmt.Errorf("%w: absolute timeout of %v reached", ErrExpired, cfg.AbsoluteTimeout)
	}
	if idle && !cfg.SkipIdleTimeout && !now.Before(t.saved.Add(cfg.IdleTimeout)) {
		return fmt.Errorf("%w: idle timeout of %v reached", ErrExpired, cfg.IdleTimeout)
	}
	return nil
}

// remaining returns how long a session with times t, saved now, has to live:
// until its absolute timeout or, unless skipped, its idle timeout, whichever
// comes first.
func (cfg CookieConfig) remaining(t times, now time.Time) time.Duration {
	d := t.created.Add(cfg.AbsoluteTimeout).Sub(now)
	if !cfg.SkipIdleTimeout {
		d = min(d, cfg.IdleTimeout)
	}
	return d
}

// Rotate gives sess a new random ID and restarts its lifetime: the absolute
// timeout runs from now. Values are kept; the cookie changes at the next Save.
// A CookieStore never changes a session's ID by itself, so call Rotate (or
// start a new session) whenever privileges change, such as at login.
func (s *CookieStore) Rotate(sess *sessions.Session) {
	sess.ID = newID()
	now := s.cfg.now()
	s.times.set(sess, times{created: now, saved: now})
}

// Activity returns when sess was created (first saved, or rotated) and last
// saved, to the second, as read from its cookie or recorded by Save and Rotate.
// Both are zero for a session never saved.
func (s *CookieStore) Activity(sess *sessions.Session) (created, saved time.Time) {
	t, _ := s.times.get(sess)
	return t.created, t.saved
}

// sideTable holds what a store knows of the sessions it has read, saved or
// rotated (a CookieStore their times, a RedisStore its redisState), without
// keeping the sessions alive. sessions.Session has no field for it, and an
// entry in Values would show in every range over Values and travel with
// Values copied into another session.
type sideTable[V any] struct {
	m sync.Map // weak.Pointer[sessions.Session] → V
}

func (t *sideTable[V]) get(sess *sessions.Session) (V, bool) {
	v, ok := t.m.Load(weak.Make(sess))
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

func (t *sideTable[V]) set(sess *sessions.Session, v V) {
	key := weak.Make(sess)
	if _, loaded := t.m.Swap(key, v); !loaded {
		runtime.AddCleanup(sess, func(key weak.Pointer[sessions.Session]) { t.m.Delete(key) }, key)
	}
}

func (t *sideTable[V]) delete(sess *sessions.Session) {
	t.m.Delete(weak.Make(sess))
}
