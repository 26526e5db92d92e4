// Package rp is an OpenID Connect relying party: it logs users of a web
// app in and out, with every check of the protocol done for the app.
//
//	sessions, _ := session.NewCookieStore(keys, session.CookieConfig{Secure: true})
//	txs, _ := session.NewCookieStore(keys, session.CookieConfig{Secure: true, AbsoluteTimeout: 10 * time.Minute})
//	party, err := rp.New(ctx, rp.Config{
//		Issuer: "https://id.example.com", ClientID: "app", ClientSecret: secret,
//		RedirectURL: "https://app.example.com/callback",
//		Sessions: sessions, TransactionStore: txs,
//	})
//	mux.HandleFunc("GET /login", party.Login)
//	mux.HandleFunc("GET /callback", party.Callback)
//	mux.HandleFunc("POST /logout", party.Logout)
//	mux.HandleFunc("POST /backchannel-logout", party.BackchannelLogout)
//	mux.Handle("GET /profile", party.RequireLogin("/login", profile)) // rp.UserFrom(r.Context())
//
// Login always uses PKCE (S256), state and nonce; each login keeps its
// transaction in its own sealed, short-lived cookie, used once (its state
// is also spent in Config.ReplayCache, so a copy of the cookie cannot be
// replayed to the token endpoint). The token_type must be Bearer. The
// callback checks state, the RFC 9207 iss parameter, then the ID token:
// signature with an algorithm the provider lists (never "none"; HS256 only
// when listed, keyed with the client secret), iss, every aud trusted, azp,
// exp, iat, nbf (with Config.Leeway), nonce, at_hash, auth_time against
// MaxAge, acr against ACRValues, no unknown "crit", typ JWT when present.
// userinfo's sub must match. The session gets a new ID at login.
//
// AccessToken and HTTPClient give handlers the user's access token,
// refreshed once per session even under concurrent requests; a refreshed
// ID token must keep iss, sub, aud, azp and auth_time (Core §12.2).
//
// Replicas of an app share a session.RedisStore, which ends sessions on
// every replica at logout and lets them refresh a session's tokens once,
// under its lock, and a session.RedisCache as ReplayCache and Logouts:
//
//	store, _ := session.NewRedisStore(client, keys, session.RedisConfig{Secure: true})
//	cache, _ := session.NewRedisCache(client, session.RedisCacheConfig{})
//	// rp.Config{Sessions: store, ReplayCache: cache, Logouts: cache, …}
//
// When Redis cannot be asked, a request with a session gets 503 from
// Authenticate and RequireLogin, and ErrSessionUnavailable from
// AccessToken, rather than being taken for logged out.
//
// Logout revokes the tokens at the provider and ends the session.
// BackchannelLogout accepts the provider's signed logout tokens (replays
// refused by jti) and FrontchannelLogout its iss+sid requests; both end
// every session of that provider session or user, with any session store,
// through the logout list.
//
// # Metrics
//
// Config.Hooks observes the RP without wrapping its handlers: logins
// started, succeeded and failed (with a reason from a fixed list, such as
// ReasonState or ReasonIDToken, fit for a metric label; LoginFailureReason
// gives it for any error the error page gets), each refresh grant and
// whether the provider refused it, and logouts on every channel. Hooks run
// synchronously, so they must be quick and safe for concurrent use; they
// get no personal data. Label metrics with the reason, never an error's
// text, so that the number of series stays bounded.
//
// Not checked here: the session store's own security (see package
// session), and anything about the access token beyond at_hash: an API
// checks its access tokens itself (package middleware).
package rp
