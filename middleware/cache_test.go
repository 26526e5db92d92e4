package middleware

import (
	"context"
	"errors"
	"hash/maphash"
	"strings"
	"testing"
	"time"

	"github.com/keyway-go/keyway/oidctest"
)

func TestCacheEnforcesExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.token(t, func(c map[string]any) { c["exp"] = f.clock.Now().Add(30 * time.Second).Unix() })
	for range 2 {
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if f.n.hits.Load() != 1 {
		t.Fatalf("%d hits, want 1", f.n.hits.Load())
	}
	// Within the leeway after exp: still accepted, as a fresh check would.
	f.clock.Advance(30*time.Second + 59*time.Second)
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	f.clock.Advance(time.Second)
	if _, err := f.v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("after exp and leeway: %v, want ErrExpired", err)
	}
}

func TestCacheLifetimeCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tok := f.token(t, func(c map[string]any) { c["exp"] = f.clock.Now().Add(time.Hour).Unix() })
	for range 2 {
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(cacheTTL)
	if _, err := f.v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if f.n.hits.Load() != 1 {
		t.Errorf("%d hits, want 1: the entry outlived the cap", f.n.hits.Load())
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.CacheSize = 32 })
	for i := range 300 {
		c := f.claims()
		if i%3 == 0 {
			c["pad"] = strings.Repeat("x", 3000)
		}
		tok := f.sign(t, c, oidctest.SignOptions{Alg: oidctest.EdDSA})
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	entries, bytes := f.v.cache.len()
	if entries == 0 || entries > 32 || bytes > 32*cacheBytesPerEntry {
		t.Errorf("cache holds %d entries, %d bytes", entries, bytes)
	}
}

func TestCacheMemoryBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.CacheSize = 160 })
	for range 100 {
		c := f.claims()
		c["pad"] = strings.Repeat("x", 8000)
		tok := f.sign(t, c, oidctest.SignOptions{Alg: oidctest.EdDSA})
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	entries, bytes := f.v.cache.len()
	if bytes > 160*cacheBytesPerEntry || entries >= 100 {
		t.Errorf("cache holds %d entries, %d bytes; budget %d bytes", entries, bytes, 160*cacheBytesPerEntry)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.CacheSize = -1 })
	tok := f.token(t, nil)
	for range 3 {
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if f.n.hits.Load() != 0 {
		t.Errorf("%d hits with the cache disabled", f.n.hits.Load())
	}
}

// TestCacheComparesTokens: an entry found under a token's hash is used
// only if it holds that very token.
func TestCacheComparesTokens(t *testing.T) {
	t.Parallel()
	c := newTokenCache(0)
	now := time.Now()
	key := &verifyKey{}
	c.put("token-a", &Claims{}, key, now, now.Add(time.Minute))
	if _, ok := c.get("token-a", now); !ok {
		t.Fatal("miss for a cached token")
	}
	// Plant a's entry under b's hash, as a collision would.
	hb := maphash.String(c.seed, "token-b")
	c.slot(hb, 0).Store(&cacheEntry{hash: hb, token: "token-a", claims: &Claims{}, key: key, notAfter: now.Add(time.Minute)})
	if _, ok := c.get("token-b", now); ok {
		t.Error("hit for another token under the same hash")
	}
	key.removed.Store(true)
	if _, ok := c.get("token-a", now); ok {
		t.Error("hit for a token whose key was removed")
	}
}
