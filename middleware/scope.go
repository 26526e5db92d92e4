package middleware

import (
	"fmt"
	"net/http"
	"slices"
)

// RequireScope returns middleware that lets a request through only if its
// token has every one of scopes; otherwise Config.ErrorHandler gets a
// *ScopeError (403 insufficient_scope with scope="…" by default). It uses
// the claims Handler stored in the context, or, when there are none, runs
// Check itself and stores them; so it protects a route on its own:
//
//	mux.Handle("GET /admin", v.RequireScope("admin")(adminHandler))
//
// A token answered from the verified-token cache is checked all the same.
// Used on its own, it sets DPoP-Nonce on accepted DPoP requests as Handler
// does.
func (v *Validator) RequireScope(scopes ...string) func(http.Handler) http.Handler {
	scopeErr := &ScopeError{Scopes: slices.Clone(scopes)}
	return v.require(func(c *Claims) error {
		for _, s := range scopeErr.Scopes {
			if !c.HasScope(s) {
				return scopeErr
			}
		}
		return nil
	})
}

// RequireClaims is like RequireScope with a predicate of the claims: allow
// returning false refuses the request with ErrInsufficientScope (403 by
// default, without a scope parameter). allow must be safe for concurrent
// use and must not modify the claims.
func (v *Validator) RequireClaims(allow func(*Claims) bool) func(http.Handler) http.Handler {
	refused := fmt.Errorf("%w: claims requirement not met", ErrInsufficientScope)
	return v.require(func(c *Claims) error {
		if !allow(c) {
			return refused
		}
		return nil
	})
}

func (v *Validator) require(check func(*Claims) error) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFrom(r.Context())
			if !ok {
				var dpop bool
				var err error
				if c, dpop, err = v.check(r); err != nil {
					v.refuse(w, r, err)
					return
				}
				if dpop {
					v.setNonce(w.Header()) // as Handler does
				}
				r = r.WithContext(withClaims(r.Context(), c))
			}
			if err := check(c); err != nil {
				v.refuse(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
