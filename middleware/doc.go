// Package middleware protects an HTTP API with OAuth 2.0 JWT access tokens
// (RFC 9068) verified against the issuer's published keys.
//
//	v, err := middleware.New(ctx, middleware.Config{
//		Issuer:    "https://id.example.com",
//		Audiences: []string{"https://api.example.com"},
//	})
//	if err != nil {
//		return err
//	}
//	defer v.Close()
//	mux.Handle("GET /me", v.Handler(meHandler))                      // any valid token
//	mux.Handle("GET /admin", v.RequireScope("admin")(adminHandler)) // and scope admin
//
// Handlers read the token's claims with ClaimsFrom(r.Context()). The shape
// follows http.CrossOriginProtection: a Validator is configured once, has
// pure checks (Verify for a token, Check for a request), wraps handlers
// (Handler, RequireScope, RequireClaims), lets the refusal be answered by
// a pluggable Config.ErrorHandler, and is safe for concurrent use.
//
// # What is checked
//
// Verify documents its steps. In short: the token's shape and size before
// anything is decoded; an explicit algorithm allowlist compared exactly,
// never none nor HMAC; the key named by kid, from the key set of the
// issuer named by iss, with a matching alg, use and key type; iss exactly;
// aud against any configured audience; exp required, nbf and iat, with a
// leeway; typ at+jwt (RFC 9068 §4) unless Config.AcceptJWTType, and never
// an ID token; no unknown crit; no cnf for a bearer token (a token bound
// to a key is accepted only with the DPoP scheme and a proof, below).
//
// # HTTP
//
// The token comes from one Authorization header with the Bearer or DPoP
// scheme (or a cookie, if configured). Responses follow RFC 6750: 401
// with bare challenges when there is no token, 401 error="invalid_token"
// for a bad token, 400 error="invalid_request" for a malformed request
// (two Authorization headers, a token in the query string), and 403
// error="insufficient_scope" with scope="…" when a route's scope is
// missing. Every challenge response has two WWW-Authenticate values, a
// Bearer challenge and then a DPoP one listing the proof algorithms
// (algs="ES256 RS256 PS256 EdDSA"); the error goes into the challenge of
// the scheme the request used. With Config.ResourceMetadata, challenges
// carry the RFC 9728 resource_metadata URL and MetadataRoute serves the
// document.
//
// # DPoP
//
// A token bound to a client's key (cnf.jkt, RFC 9449) is sent as
// "Authorization: DPoP <token>" with one "DPoP: <proof>" header, a JWT the
// client signs for each request. Check verifies the token as usual (its
// signature once, then from the cache) and the proof on every request:
// typ dpop+jwt, an allowed alg, a public jwk that verifies the signature
// and whose thumbprint is the token's cnf.jkt, htm and htu naming this
// request, a recent iat, ath the hash of this token, and a jti never seen
// before. Bearer tokens keep working beside DPoP ones; set
// Config.DPoP.Required to accept DPoP only. Refusals answer 401 with
// error="invalid_dpop_proof" (or "invalid_token" for the token) in the
// DPoP challenge. Claims.DPoPThumbprint is the key the token is bound to.
//
// Replay: accepted proofs are remembered, by key and jti, until they are
// too old to be accepted anyway (MaxAge + Leeway after their iat). The
// default cache lives in the process and is bounded; when it is full it
// refuses proofs (503) rather than forget any. Replicas behind a load
// balancer must share one cache, or a proof replayed to another replica
// passes: give them all the same Redis, e.g.
//
//	cache, err := session.NewRedisCache(redisClient, session.RedisCacheConfig{})
//	…
//	cfg.DPoP.ReplayCache = cache // any type with Seen(ctx, key, until) (bool, error)
//
// A failing cache refuses the request with 503 temporarily_unavailable:
// freshness cannot be known, so it fails closed.
//
// Nonces: with Config.DPoP.NonceKey set, proofs must carry a nonce the
// server issued (RFC 9449 §9), which bounds a proof's age by the server's
// clock instead of the client's. The first request is answered 401
// error="use_dpop_nonce" with a DPoP-Nonce header; every DPoP response
// carries a current nonce. Nonces are a MAC of the time window, without
// state: replicas given the same key (32 random bytes or more, from a
// secret store) accept each other's nonces.
//
// Proxies: a proof's htu names the URL the client called. Behind a proxy
// or load balancer that changes the scheme, host or path, set
// Config.DPoP.URL to rebuild that public URL from the request, from
// configuration rather than from headers a client can forge:
//
//	cfg.DPoP.URL = func(r *http.Request) string {
//		return "https://api.example.com" + r.URL.EscapedPath()
//	}
//
// # Key sets
//
// Each issuer's key set (from Config.JWKSURL or discovery) is fetched when
// New is called, without blocking it, then refreshed in the background as
// its Cache-Control says, within MinRefreshInterval and
// MaxRefreshInterval. A token with an unknown kid triggers one refetch at
// most per MinRefreshInterval, shared by all requests waiting for it; a bad
// signature never triggers one. A failed refresh keeps the last good keys;
// keys that cannot be used are skipped; fetches are capped at 10 s and
// 1 MiB.
//
// # Verified-token cache
//
// A token that passed Verify is remembered, keyed by the exact token,
// until its exp or for two minutes at most, and forgotten as soon as its
// key leaves the key set. A cached token still has its exp checked, and
// scope checks run on every request. The cache holds at most
// Config.CacheSize tokens (10,000 by default) and CacheSize × 4 KiB of
// token data.
//
// # Opaque tokens
//
// With Config.Introspection, a token that is not JWT-shaped (three
// base64url segments) is checked by OAuth 2.0 Token Introspection (RFC
// 7662) at the authorization server Config.Issuer names, which is then
// required; JWT-shaped tokens still go to the key sets, so both kinds
// work side by side. The endpoint is Introspection.URL or the
// introspection_endpoint of the server's metadata; the resource server
// authenticates with client_secret_basic or client_secret_post.
//
//	cfg.Introspection = &middleware.Introspection{
//		ClientID:     "orders-api",
//		ClientSecret: secret,
//	}
//
// The answer must say active, as the JSON boolean true; its iss, when
// present, must be an accepted issuer; aud must hold one of
// Config.Audiences, so a token issued for another API of the same server
// is refused; exp, nbf and iat are checked with the leeway; and an active
// refresh token (token_type other than Bearer or DPoP) is refused. The
// Claims accessors work as for JWTs, and Get reads the other members
// (username, act, cnf); a token with cnf.jkt needs the DPoP scheme.
//
// Concurrent requests with the same token share one call. Verdicts are
// cached by the token's SHA-256, never the token, which is never logged
// either: an accepted token until its exp and at most
// Introspection.MaxCacheTTL (5 minutes by default, which is how late a
// revocation may be seen), a refusal for NegativeTTL (10 s), so a flood
// of junk tokens does not flood the server. A call that fails (no answer
// within 10 s, a status other than 200, a body over 64 KiB or not JSON)
// is ErrIntrospection and is not cached; WriteError answers it 503
// temporarily_unavailable, never 200: the client should retry, not get a
// new token.
// Calls end with the request's context, or with Close.
package middleware
