package session

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// TestRedisSaveAfterAbsoluteTimeout: a session loaded in time cannot be saved
// past its absolute timeout, and no cookie is written.
func TestRedisSaveAfterAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	now := newClock()
	s := e.store(t, RedisConfig{SkipIdleTimeout: true, AbsoluteTimeout: time.Hour, Now: now.Now})
	j := jar{}
	redisUpdate(t, s, j, "app", func(sess *sessions.Session) {})
	r := j.request()
	sess := mustLoad(t, s, j, "app")
	now.Advance(time.Hour)
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); !errors.Is(err, ErrExpired) {
		t.Fatalf("Save: %v, want ErrExpired", err)
	}
	if h := rec.Header().Values("Set-Cookie"); len(h) != 0 {
		t.Errorf("failed Save wrote %q", h)
	}
}

// TestRedisRotate: Rotate gives a new ID, and the save deletes the old one in
// the same script, with its index entries: the old cookie is refused.
func TestRedisRotate(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	now := newClock()
	s := e.store(t, RedisConfig{Now: now.Now})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	j, before := login(t, s, alice, map[any]any{"v": "before"})
	oldJar := jar{"app": j["app"]}
	oldIndex := s.index.current(e.prefix, alice)

	now.Advance(10 * time.Minute)
	bob := Identity{Issuer: "https://op.example", Subject: "bob", SID: "s2"}
	after := redisUpdate(t, s, j, "app", func(sess *sessions.Session) {
		s.Rotate(sess)
		s.Bind(sess, bob)
	})
	if after.ID == before.ID || j["app"] == oldJar["app"] {
		t.Fatal("Rotate kept the ID")
	}
	if e.exists(t, s.dataKey(before.ID)) {
		t.Error("the old ID's data is still in Redis")
	}
	if sess, err := load(t, s, oldJar, "app"); !errors.Is(err, ErrExpired) {
		t.Errorf("old cookie: %v, want ErrExpired", err)
	} else {
		wantFreshRedis(t, sess)
	}
	sess := mustLoad(t, s, j, "app")
	if sess.Values["v"] != "before" || s.Identity(sess) != bob {
		t.Errorf("rotated session: values %v, identity %+v", sess.Values, s.Identity(sess))
	}
	if created, _ := s.Activity(sess); !created.Equal(now.Now()) {
		t.Errorf("rotated session created %v, want %v: Rotate restarts the lifetime", created, now.Now())
	}
	for _, k := range oldIndex {
		if e.exists(t, k) {
			t.Errorf("index set %s of the old ID's identity remains", k)
		}
	}
	if got := e.keys(t); len(got) != 3 {
		t.Errorf("Redis holds %q, want the new data key and its two index sets", got)
	}
}

// TestRedisSaveIDRules: Save keeps the ID the store made, makes one for a
// session without, and refuses one changed behind its back.
func TestRedisSaveIDRules(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})

	// A session from sessions.NewSession gets an ID at its first save.
	sess := sessions.NewSession(s, "app")
	rec := httptest.NewRecorder()
	if err := s.Save(nil, rec, sess); err != nil || !validID(sess.ID) || len(setCookies(rec)) != 1 {
		t.Fatalf("Save of a session without ID: %v, ID %q", err, sess.ID)
	}

	// Clearing the ID of a stored session rotates it.
	old := sess.ID
	sess.ID = ""
	if err := s.Save(nil, httptest.NewRecorder(), sess); err != nil || sess.ID == old || e.exists(t, s.dataKey(old)) {
		t.Fatalf("Save with a cleared ID: %v; new ID %v; old data kept %v", err, sess.ID != old, e.exists(t, s.dataKey(old)))
	}

	// An ID changed by hand is refused.
	for _, id := range []string{newID(), "chosen"} {
		sess.ID = id
		rec := httptest.NewRecorder()
		if err := s.Save(nil, rec, sess); err == nil || len(rec.Header().Values("Set-Cookie")) != 0 {
			t.Errorf("Save with ID changed to %q: %v, want an error and no cookie", id, err)
		}
	}
	bad := sessions.NewSession(s, "app")
	bad.ID = "chosen"
	if err := s.Save(nil, httptest.NewRecorder(), bad); err == nil {
		t.Error("Save of a session with an ID not made by the store succeeded")
	}
}

// TestRedisNewIDNotReused: a new session is stored only under a free ID, so
// a new session given a stored session's ID cannot overwrite it.
func TestRedisNewIDNotReused(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	j, victim := login(t, s, Identity{}, map[any]any{"user": "alice"})
	sess := sessions.NewSession(s, "app")
	sess.ID = victim.ID
	sess.Values["user"] = "mallory"
	if err := s.Save(nil, httptest.NewRecorder(), sess); err == nil {
		t.Fatal("a new session overwrote a stored one")
	}
	if got := mustLoad(t, s, j, "app"); got.Values["user"] != "alice" {
		t.Errorf("stored session now holds %v", got.Values)
	}
}

// TestRedisDelete: Delete removes the data and the index entries, expires the
// cookie, and the cookie is refused from then on.
func TestRedisDelete(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{Secure: true})
	j, _ := login(t, s, Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}, map[any]any{"v": 1})
	replay := jar{"__Host-app": j["__Host-app"]}
	r := j.request()
	sess, err := s.Get(r, "app")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if err := s.Delete(r, rec, sess); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	cookies := setCookies(rec)
	if len(cookies) != 1 || cookies[0].Name != "__Host-app" || cookies[0].MaxAge >= 0 || !cookies[0].Secure {
		t.Errorf("Delete wrote %+v, want the cookie expired", cookies)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis still holds %q", keys)
	}
	if _, err := load(t, s, replay, "app"); !errors.Is(err, ErrExpired) {
		t.Errorf("replayed cookie: %v, want ErrExpired", err)
	}

	// gorilla's sessions.Save saves the deleted session again: it stays deleted.
	if err := sessions.Save(r, httptest.NewRecorder()); err != nil {
		t.Fatalf("sessions.Save: %v", err)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis holds %q after saving the deleted session", keys)
	}

	// Saving it with MaxAge reset starts a new session, not the old ID.
	sess.Options.MaxAge = 0
	sess.Values["v"] = 2
	if err := s.Save(r, httptest.NewRecorder(), sess); err != nil {
		t.Fatal(err)
	}
	if _, err := load(t, s, replay, "app"); !errors.Is(err, ErrExpired) {
		t.Errorf("replayed cookie after a new save: %v, want ErrExpired", err)
	}
}

// TestRedisDeleteUnloaded: Delete also ends the session of the request's
// cookie when it was not loaded (here: never read), and the IDs Rotate left.
func TestRedisDeleteUnloaded(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	j, _ := login(t, s, Identity{}, nil)
	r := j.request()
	if err := s.Delete(r, httptest.NewRecorder(), sessions.NewSession(s, "app")); err != nil {
		t.Fatal(err)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis still holds %q", keys)
	}

	j, _ = login(t, s, Identity{}, nil)
	sess := mustLoad(t, s, j, "app")
	s.Rotate(sess)
	if err := s.Delete(nil, httptest.NewRecorder(), sess); err != nil {
		t.Fatal(err)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis still holds %q after deleting a rotated session", keys)
	}
}

// TestRedisEndedNotResurrected: a request that loaded a session before it
// ended cannot save it back.
func TestRedisEndedNotResurrected(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	j, _ := login(t, s, alice, map[any]any{"v": 1})
	r := j.request()
	stale := mustLoad(t, s, j, "app")

	if n, err := s.EndSessions(context.Background(), alice); n != 1 || err != nil {
		t.Fatalf("EndSessions: %d, %v", n, err)
	}
	stale.Values["v"] = 2
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, stale); !errors.Is(err, ErrExpired) {
		t.Fatalf("Save of an ended session: %v, want ErrExpired", err)
	}
	if h := rec.Header().Values("Set-Cookie"); len(h) != 0 {
		t.Errorf("failed Save wrote %q", h)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis holds %q after the failed save", keys)
	}
	if _, err := load(t, s, j, "app"); !errors.Is(err, ErrExpired) {
		t.Errorf("cookie of the ended session: %v, want ErrExpired", err)
	}
}

// TestRedisNoHalfWrite: when the save script cannot write everything, it
// writes nothing.
func TestRedisNoHalfWrite(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	blocked := s.index.current(e.prefix, alice)[1]
	if err := e.client.Set(context.Background(), blocked, "not a set", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	j := jar{}
	r := j.request()
	sess, _ := s.New(r, "app")
	s.Bind(sess, alice)
	rec := httptest.NewRecorder()
	err := s.Save(r, rec, sess)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("Save: %v, want ErrUnavailable with WRONGTYPE", err)
	}
	if len(rec.Header().Values("Set-Cookie")) != 0 {
		t.Error("failed Save wrote a cookie")
	}
	if keys := e.keys(t); len(keys) != 1 || keys[0] != blocked {
		t.Errorf("Redis holds %q, want only the blocking key", keys)
	}
}

// TestRedisConcurrentUse: many requests of many sessions at once, some of
// them saving the same session.
func TestRedisConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	shared, _ := login(t, s, Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 16 {
		wg.Go(func() {
			j := jar{}
			for n := range 10 {
				if err := redisSaveGet(s, j, fmt.Sprintf("%d/%d", i, n)); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for n := range 10 {
				r := shared.request()
				sess, err := s.New(r, "app")
				if err != nil {
					errs <- err
					return
				}
				sess.Values["n"] = n
				if err := s.Save(r, httptest.NewRecorder(), sess); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if sess := mustLoad(t, s, shared, "app"); sess.Values["n"] == nil {
		t.Error("the shared session lost its values")
	}
}

// redisSaveGet saves want in the jar's session and reads it back.
func redisSaveGet(s *RedisStore, j jar, want string) error {
	r := j.request()
	sess, err := s.New(r, "app")
	if err != nil {
		return fmt.Errorf("New before saving %s: %w", want, err)
	}
	sess.Values["v"] = want
	rec := httptest.NewRecorder()
	if err := s.Save(r, rec, sess); err != nil {
		return fmt.Errorf("Save %s: %w", want, err)
	}
	j.apply(rec)
	sess, err = s.New(j.request(), "app")
	if err != nil || sess.Values["v"] != want {
		return fmt.Errorf("read back %s: %v, %v", want, sess.Values["v"], err)
	}
	return nil
}
