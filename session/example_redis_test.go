package session_test

import (
	"context"
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyway-go/keyway/session"
)

// ExampleNewRedisStore shows a store shared by replicas: login rotates the
// session ID and binds the session to the user's identity at the provider, so
// that a back-channel logout received by any replica ends it. It needs a
// Redis, so it is not run.
func ExampleNewRedisStore() {
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	secret := []byte("an example secret, use 32+ random bytes")
	store, err := session.NewRedisStore(client, [][]byte{secret}, session.RedisConfig{Secure: true})
	if err != nil {
		log.Fatal(err)
	}

	http.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		// ... redeem the code, verify the ID token ...
		sess, err := store.Get(r, "app")
		if errors.Is(err, session.ErrUnavailable) {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		clear(sess.Values)
		store.Rotate(sess) // a new ID: one planted before login is worth nothing
		store.Bind(sess, session.Identity{Issuer: "https://op.example", Subject: "alice", SID: "op-session"})
		sess.Values["refresh_token"] = "…"
		if err := sess.Save(r, w); err != nil {
			http.Error(w, "session not saved", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	http.HandleFunc("POST /backchannel-logout", func(w http.ResponseWriter, r *http.Request) {
		// ... verify the logout token, then end its sessions on every replica:
		if _, err := store.EndSessions(r.Context(), session.Identity{Issuer: "https://op.example", SID: "op-session"}); err != nil {
			http.Error(w, "logout failed", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
	})
}

// ExampleRedisStore_Lock shows work that replicas sharing a Redis must do once
// per session, such as refreshing its tokens: lock, re-read, check again.
func ExampleRedisStore_Lock() {
	var store *session.RedisStore // from session.NewRedisStore
	refresh := func(rt string) (string, error) { return "new " + rt, nil }

	http.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		sess, err := store.Get(r, "app")
		if err != nil || sess.IsNew {
			http.Error(w, "login required", http.StatusUnauthorized)
			return
		}
		if expired := true; expired { // the access token needs refreshing
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			unlock, err := store.Lock(ctx, sess, 10*time.Second)
			if err != nil {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			defer unlock()
			// Another replica may have refreshed while this request waited.
			if err := store.Reload(ctx, sess); err != nil {
				http.Error(w, "login required", http.StatusUnauthorized)
				return
			}
			if stillExpired := true; stillExpired {
				rt, err := refresh(sess.Values["refresh_token"].(string))
				if err != nil {
					_ = store.Delete(r, w, sess) // invalid_grant ends the session
					return
				}
				sess.Values["refresh_token"] = rt
				if err := sess.Save(r, w); err != nil {
					http.Error(w, "session not saved", http.StatusServiceUnavailable)
					return
				}
			}
		}
		// ... call the API with the access token ...
	})
}
