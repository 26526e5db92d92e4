package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/keyway-go/keyway/middleware"
)

// An API that accepts opaque access tokens: each is checked once at the
// authorization server's introspection endpoint (RFC 7662), discovered
// from its metadata, and the answer is cached.
func ExampleIntrospection() {
	as := newIntrospectingServer("orders-api", "s3cret")
	defer as.Close()

	v, err := middleware.New(context.Background(), middleware.Config{
		Issuer:    as.URL,
		Audiences: []string{"https://api.example.com"},
		Introspection: &middleware.Introspection{
			ClientID:     "orders-api",
			ClientSecret: "s3cret",
			MaxCacheTTL:  time.Minute, // a revoked token is refused within a minute
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	c, err := v.Verify(context.Background(), "opaque-token-1")
	if err != nil {
		log.Fatal(err)
	}
	user, _ := c.Get("username")
	fmt.Println(c.ClientID(), c.Scopes(), user)

	_, err = v.Verify(context.Background(), "revoked-token")
	fmt.Println(errors.Is(err, middleware.ErrInactive))

	h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := middleware.ClaimsFrom(r.Context())
		fmt.Fprint(w, "orders of ", c.Subject())
	}))
	for _, token := range []string{"opaque-token-1", "revoked-token"} {
		r := httptest.NewRequest(http.MethodGet, "/orders", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(token, w.Code)
	}
	// Output:
	// reporting [orders:read] ada
	// true
	// opaque-token-1 200
	// revoked-token 401
}

// newIntrospectingServer is a stand-in authorization server: metadata
// and an introspection endpoint that knows one active token.
func newIntrospectingServer(clientID, secret string) *httptest.Server {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	answer := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		answer(w, map[string]any{
			"issuer":                 srv.URL,
			"jwks_uri":               srv.URL + "/jwks",
			"introspection_endpoint": srv.URL + "/introspect",
		})
	})
	mux.HandleFunc("POST /introspect", func(w http.ResponseWriter, r *http.Request) {
		if id, s, ok := r.BasicAuth(); !ok || id != clientID || s != secret {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		if r.PostFormValue("token") != "opaque-token-1" {
			answer(w, map[string]any{"active": false})
			return
		}
		answer(w, map[string]any{
			"active":    true,
			"iss":       srv.URL,
			"aud":       "https://api.example.com",
			"sub":       "ada",
			"username":  "ada",
			"client_id": "reporting",
			"scope":     "orders:read",
			"exp":       time.Now().Add(time.Hour).Unix(),
		})
	})
	return srv
}
