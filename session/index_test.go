package session

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"
)

// TestEndSessions: back-channel logout by SID, by subject, or by both, ends
// exactly the matching sessions, and their cookies are refused.
func TestEndSessions(t *testing.T) {
	t.Parallel()
	const op, other = "https://op.example", "https://other.example"
	// Alice has two sessions at the provider (s1 in two tabs' browsers, s2),
	// Bob one, and someone at another provider has Alice's subject and SID.
	identities := map[string]Identity{
		"alice-s1-a": {Issuer: op, Subject: "alice", SID: "s1"},
		"alice-s1-b": {Issuer: op, Subject: "alice", SID: "s1"},
		"alice-s2":   {Issuer: op, Subject: "alice", SID: "s2"},
		"alice-nsid": {Issuer: op, Subject: "alice"},
		"bob-s3":     {Issuer: op, Subject: "bob", SID: "s3"},
		"other":      {Issuer: other, Subject: "alice", SID: "s1"},
	}
	tests := []struct {
		name  string
		end   Identity
		ended []string
	}{
		{"by SID", Identity{Issuer: op, SID: "s1"}, []string{"alice-s1-a", "alice-s1-b"}},
		{"by subject", Identity{Issuer: op, Subject: "alice"}, []string{"alice-s1-a", "alice-s1-b", "alice-s2", "alice-nsid"}},
		{"by SID and subject", Identity{Issuer: op, Subject: "alice", SID: "s2"}, []string{"alice-s2"}},
		{"SID of another subject", Identity{Issuer: op, Subject: "bob", SID: "s1"}, nil},
		{"unknown SID", Identity{Issuer: op, SID: "s9"}, nil},
		{"other issuer", Identity{Issuer: other, SID: "s1"}, []string{"other"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRedisEnv(t)
			s := e.store(t, RedisConfig{})
			jars := map[string]jar{}
			for name, id := range identities {
				jars[name], _ = login(t, s, id, map[any]any{"name": name})
			}
			n, err := s.EndSessions(context.Background(), tt.end)
			if err != nil || n != len(tt.ended) {
				t.Fatalf("EndSessions: %d, %v; want %d", n, err, len(tt.ended))
			}
			ended := map[string]bool{}
			for _, name := range tt.ended {
				ended[name] = true
			}
			for name, j := range jars {
				sess, err := load(t, s, j, "app")
				switch {
				case ended[name] && !errors.Is(err, ErrExpired):
					t.Errorf("%s: %v, want ErrExpired", name, err)
				case !ended[name] && (err != nil || sess.Values["name"] != name):
					t.Errorf("%s: %v, want the session kept", name, err)
				}
			}
		})
	}
}

func TestEndSessionsRejects(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	for _, id := range []Identity{
		{},
		{Issuer: "https://op.example"},
		{Subject: "alice", SID: "s1"},
	} {
		if _, err := s.EndSessions(context.Background(), id); err == nil {
			t.Errorf("EndSessions(%+v) succeeded", id)
		}
	}
	r := jar{}.request()
	sess, _ := s.New(r, "app")
	s.Bind(sess, Identity{Subject: "alice"})
	if err := s.Save(r, httptest.NewRecorder(), sess); err == nil {
		t.Error("Save of a session bound to an identity without issuer succeeded")
	}
}

// TestEndSessionsCleansIndex: EndSessions removes the ended sessions from the
// sets it read, so nothing is left when every index is used.
func TestEndSessionsCleansIndex(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	login(t, s, alice, nil)
	login(t, s, alice, nil)
	if n, err := s.EndSessions(context.Background(), alice); n != 2 || err != nil {
		t.Fatalf("EndSessions: %d, %v", n, err)
	}
	if keys := e.keys(t); len(keys) != 0 {
		t.Errorf("Redis holds %q", keys)
	}
	if n, err := s.EndSessions(context.Background(), alice); n != 0 || err != nil {
		t.Errorf("EndSessions again: %d, %v; want 0", n, err)
	}
}

// TestBindChanges: binding a session to another identity moves its index
// entries; a zero identity removes them.
func TestBindChanges(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	s := e.store(t, RedisConfig{})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	bob := Identity{Issuer: "https://op.example", Subject: "bob", SID: "s2"}
	j, _ := login(t, s, alice, nil)

	redisUpdate(t, s, j, "app", func(sess *sessions.Session) { s.Bind(sess, bob) })
	if n, _ := s.EndSessions(context.Background(), alice); n != 0 {
		t.Errorf("EndSessions(alice) after rebinding to bob ended %d", n)
	}
	redisUpdate(t, s, j, "app", func(sess *sessions.Session) { s.Bind(sess, Identity{}) })
	if n, _ := s.EndSessions(context.Background(), bob); n != 0 {
		t.Errorf("EndSessions(bob) after unbinding ended %d", n)
	}
	sess := mustLoad(t, s, j, "app")
	if keys := e.keys(t); len(keys) != 1 || keys[0] != s.dataKey(sess.ID) {
		t.Errorf("Redis holds %q, want only the data key", keys)
	}
}

// TestIndexExpires: index sets expire with their longest-lived session, in
// real time.
func TestIndexExpires(t *testing.T) {
	t.Parallel()
	e := newRedisEnv(t)
	short := e.store(t, RedisConfig{IdleTimeout: time.Second, AbsoluteTimeout: time.Minute})
	long := e.store(t, RedisConfig{IdleTimeout: 2 * time.Second, AbsoluteTimeout: time.Minute})
	alice := Identity{Issuer: "https://op.example", Subject: "alice", SID: "s1"}
	login(t, long, alice, nil)
	login(t, short, alice, nil) // must not shorten the sets' TTL
	for _, k := range short.index.current(e.prefix, alice) {
		if got := e.pttl(t, k); got <= time.Second || got > 2*time.Second {
			t.Errorf("TTL of index set %s: %v, want that of the longer session, 2s", k, got)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.keys(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("keys left after their TTLs: %q", e.keys(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
