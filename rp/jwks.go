package rp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// jwksRefetchInterval is the least time between two JWKS fetches caused
// by tokens with an unknown kid; tokens cannot make us fetch more often.
const jwksRefetchInterval = 10 * time.Second

// jwksMaxAge is how long fetched keys are used before the JWKS is fetched
// again, so that a key the provider withdrew stops verifying tokens.
const jwksMaxAge = time.Hour

// keySet verifies JWS signatures with the provider's JWKS (and with the
// client secret for HS* when allowed). It implements go-oidc's KeySet.
//
// Policy: keys are fetched on first use, and again on the first use after
// jwksMaxAge; a token whose kid is unknown causes a refetch at most once
// per jwksRefetchInterval, shared by all waiting callers; a bad signature
// never causes a fetch; a failed fetch keeps the last good keys.
type keySet struct {
	rp     *RP
	algs   []jose.SignatureAlgorithm
	secret []byte

	group   singleflight.Group
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	last    time.Time // last fetch attempt
	fetched time.Time // last successful fetch
}

func newKeySet(rp *RP, algs []string) *keySet {
	ks := &keySet{rp: rp, secret: []byte(rp.cfg.ClientSecret)}
	for _, a := range algs {
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
	}
	return ks
}

// VerifySignature returns the payload of jwt if its signature verifies.
func (ks *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSigned(jwt, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidSignature)
	}
	h := jws.Signatures[0].Header
	switch jose.SignatureAlgorithm(h.Algorithm) {
	case jose.HS256, jose.HS384, jose.HS512:
		// Keyed with the client secret (OpenID Connect Core §10.1).
		payload, err := jws.Verify(ks.secret)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
		}
		return payload, nil
	}
	keys, err := ks.keysFor(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm || k.Use != "" && k.Use != "sig" {
			continue
		}
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: no key of the provider verifies it", ErrInvalidSignature)
}

// keysFor returns the candidate keys for kid (all keys when kid is empty),
// fetching the JWKS when none is known and the rate limit allows.
func (ks *keySet) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if keys := ks.match(kid); len(keys) > 0 && !ks.stale() {
		return keys, nil
	}
	// Decided inside the flight: a caller arriving while a fetch runs
	// waits for its keys, and one arriving just after it does not fetch.
	_, err, _ := ks.group.Do("fetch", func() (any, error) {
		ks.mu.Lock()
		due := ks.last.IsZero() || ks.rp.cfg.Now().Sub(ks.last) >= jwksRefetchInterval
		ks.mu.Unlock()
		if !due {
			return nil, nil
		}
		return nil, ks.fetch(context.WithoutCancel(ctx))
	})
	if keys := ks.match(kid); len(keys) > 0 {
		return keys, nil // refreshed, or stale but the refresh failed
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidSignature, kid)
}

// stale reports whether the keys were fetched jwksMaxAge ago or more.
func (ks *keySet) stale() bool {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return !ks.fetched.IsZero() && ks.rp.cfg.Now().Sub(ks.fetched) >= jwksMaxAge
}

func (ks *keySet) match(kid string) []jose.JSONWebKey {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if kid == "" {
		return ks.keys
	}
	for _, k := range ks.keys {
		if k.KeyID == kid {
			return []jose.JSONWebKey{k}
		}
	}
	return nil
}

func (ks *keySet) fetch(ctx context.Context) error {
	ks.mu.Lock()
	ks.last = ks.rp.cfg.Now()
	ks.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var raw struct {
		Set []rawJWK `json:"keys"`
	}
	if err := getJSON(ctx, ks.rp.http, ks.rp.meta.JWKSURI, &raw); err != nil {
		return fmt.Errorf("rp: fetch JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Set {
		var k jose.JSONWebKey
		// Keys this library cannot use (unknown kty, …) are skipped
		// instead of failing the whole set.
		if err := k.UnmarshalJSON(r); err == nil && k.Valid() && k.IsPublic() {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return errors.New("rp: the JWKS holds no usable key")
	}
	ks.mu.Lock()
	ks.keys, ks.fetched = keys, ks.rp.cfg.Now()
	ks.mu.Unlock()
	return nil
}

// rawJWK defers parsing each key so one bad key does not fail the set.
type rawJWK []byte

func (r *rawJWK) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}
