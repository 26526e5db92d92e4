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
// an ID token; no unknown crit; no cnf (sender-constrained tokens need a
// proof of possession, which a later version will verify).
//
// # HTTP
//
// The token comes from one Authorization: Bearer header (or a cookie, if
// configured). Responses follow RFC 6750: 401 with a bare "Bearer"
// challenge when there is no token, 401 error="invalid_token" for a bad
// token, 400 error="invalid_request" for a malformed request (two
// Authorization headers, a token in the query string), and 403
// error="insufficient_scope" with scope="…" when a route's scope is
// missing. With Config.ResourceMetadata, challenges carry the RFC 9728
// resource_metadata URL and MetadataRoute serves the document.
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
package middleware
