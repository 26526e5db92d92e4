// Package api is the example protected API, shared by examples/api and
// examples/quickstart. Its routes follow the examples contract in the
// project's design notes.
package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"

	"github.com/keyway-go/keyway/middleware"
)

// Config is the API's configuration.
type Config struct {
	Issuer   string // OIDC_ISSUER: tokens must come from this issuer
	Audience string // API_AUDIENCE: and be issued for this audience
	Logger   *slog.Logger

	// ReplayCache remembers DPoP proofs; nil means in memory. Replicas
	// share one in Redis (REDIS_URL).
	ReplayCache middleware.ReplayCache
	// Introspection, when set, also accepts opaque access tokens by RFC
	// 7662 introspection (INTROSPECTION_CLIENT_ID and _SECRET).
	Introspection *middleware.Introspection
}

// API is the example API: an http.Handler with its token validator.
type API struct {
	http.Handler
	v *middleware.Validator
}

// New returns the API. ctx bounds the validator's background key refresh,
// so it must live as long as the API (not just its start-up); Close stops
// the refresh too.
func New(ctx context.Context, c Config) (*API, error) {
	mc := middleware.Config{
		Issuer:        c.Issuer,
		Audiences:     []string{c.Audience},
		Logger:        c.Logger,
		DPoP:          middleware.DPoPConfig{ReplayCache: c.ReplayCache},
		Introspection: c.Introspection,
	}
	// When the audience is a URL the API can be reached at, it is also the
	// RFC 9728 resource, and challenges point to the metadata.
	if u, err := url.Parse(c.Audience); err == nil && u.Host != "" &&
		(u.Scheme == "https" || (u.Scheme == "http" && isLoopback(u.Hostname()))) {
		mc.ResourceMetadata = &middleware.ResourceMetadata{
			Resource:        c.Audience,
			ScopesSupported: []string{"admin"},
			ResourceName:    "Keyway example API",
		}
	}
	v, err := middleware.New(ctx, mc)
	if err != nil {
		return nil, err
	}
	return &API{Handler: routes(v), v: v}, nil
}

// Close stops the validator's background work.
func (a *API) Close() error { return a.v.Close() }

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// routes are the API's routes; only /me and /admin need a token.
func routes(v *middleware.Validator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"message": "public: no token needed"})
	})
	mux.Handle("GET /me", v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		writeJSON(w, map[string]any{"sub": c.Subject(), "client_id": c.ClientID(), "scope": c.Scopes()})
	})))
	mux.Handle("GET /admin", v.RequireScope("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		writeJSON(w, map[string]any{"message": "admin area", "sub": c.Subject()})
	})))
	pattern, metadata := v.MetadataRoute()
	mux.Handle(pattern, metadata)
	if contract := "GET /.well-known/oauth-protected-resource"; pattern != contract {
		mux.Handle(contract, metadata) // the audience has a path
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
