// Package session stores sessions, and the tokens a relying party keeps in
// them, on top of gorilla/sessions, in sealed cookies (CookieStore) or in
// Redis (RedisStore).
//
// CookieStore is a sessions.Store that keeps a session in the browser, sealed
// with AES-256-GCM and split over several cookies when it is large (an ID
// token, access token and refresh token easily pass the 4 KB a cookie holds):
//
//	store, err := session.NewCookieStore([][]byte{secret}, session.CookieConfig{Secure: true})
//	if err != nil {
//		return err
//	}
//	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
//		sess, _ := store.Get(r, "app") // a new session if the cookie is missing, invalid or expired
//		n, _ := sess.Values["visits"].(int)
//		sess.Values["visits"] = n + 1
//		if err := sess.Save(r, w); err != nil {
//			http.Error(w, "session not saved", http.StatusInternalServerError)
//		}
//	})
//
// Secrets are at least 32 random bytes, newest first: the newest seals, any
// opens, which is how keys rotate. Sessions expire after an idle and an
// absolute timeout enforced from times sealed in the cookie. Values are
// encoded with encoding/gob: register your own types with gob.Register.
//
// # Cookies
//
// With Secure set, Path "/" and no Domain, the session "app" is stored in the
// cookie "__Host-app", which browsers bind to the host; with Secure otherwise,
// in "__Secure-app"; without Secure, in "app". Get, New and Save take the
// plain name.
//
// The cookie value is the base64url encoding (no padding) of
//
//	version (1 byte) | key ID (4 bytes) | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// sealed with AES-256-GCM under a key derived from the secret with HKDF-SHA-256.
// The key ID (from an HMAC under the derived key) picks the key to try; the
// version, key ID and cookie name are bound as additional data, so a value moved
// to another cookie fails to open. The plaintext holds the creation and
// last-save times, the session ID and the gob-encoded Values.
//
// A value longer than CookieConfig.ChunkSize is split over the cookies "app",
// "app.1", "app.2", … (prefixed as above: "__Host-app.1"); the value of "app"
// starts with the number of chunks and a dot ("3.AbC…"). The whole value is
// sealed before it is split, so a missing, altered or reordered chunk fails to
// open; chunks beyond the number are left over from a larger session, ignored,
// and deleted by the next Save. Session names therefore contain no dot.
//
// # Redis
//
// RedisStore keeps sessions in Redis, for applications on several replicas and
// for sessions the server must be able to end (logout, back-channel logout):
//
//	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
//	store, err := session.NewRedisStore(client, [][]byte{secret}, session.RedisConfig{Secure: true})
//	if err != nil {
//		return err
//	}
//	// At login: a new ID, and an index entry for back-channel logout.
//	store.Rotate(sess)
//	store.Bind(sess, session.Identity{Issuer: iss, Subject: sub, SID: sid})
//	err = sess.Save(r, w)
//	// At back-channel logout, on any replica:
//	n, err := store.EndSessions(ctx, session.Identity{Issuer: iss, SID: sid})
//
// The cookie value is "ID.tag": the session ID (32 random bytes) and the first
// 16 bytes of an HMAC-SHA-256 of it and the cookie name under a key derived from
// the secret, both in base64url. The session is stored under KeyPrefix+"s:"+ID,
// sealed as a cookie value is (with the Redis key as the bound name), with a TTL
// of its remaining lifetime. Sessions bound to an Identity are listed in sets
// whose names are HMACs of the issuer and SID or subject, so a Redis dump shows
// neither tokens nor users. Every Redis call is bounded by RedisConfig.OpTimeout
// and fails with ErrUnavailable.
//
// Replicas refresh a session's tokens once with Lock and Reload (package rp
// does when its Config.Sessions is a RedisStore). RedisCache keeps what
// replicas must agree on besides sessions, the logout tokens seen and the
// logouts recorded, as rp's ReplayCache and LogoutList:
//
//	cache, err := session.NewRedisCache(client, session.RedisCacheConfig{})
//	// rp.Config{Sessions: store, ReplayCache: cache, Logouts: cache, …}
package session
