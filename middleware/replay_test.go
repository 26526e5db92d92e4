package middleware

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recordingCache is a ReplayCache in memory that records its calls.
type recordingCache struct {
	mu       sync.Mutex
	seen     map[string]bool
	keys     []string
	untils   []time.Time
	deadline bool // every call's context had a deadline
	calls    atomic.Int64
}

func (c *recordingCache) Seen(ctx context.Context, key string, until time.Time) (bool, error) {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen, c.deadline = map[string]bool{}, true
	}
	_, ok := ctx.Deadline()
	c.deadline = c.deadline && ok
	c.keys, c.untils = append(c.keys, key), append(c.untils, until)
	was := c.seen[key]
	c.seen[key] = true
	return was, nil
}

func TestMemoryReplayCache(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	c := newMemoryReplayCache(2, clock.Now)
	ctx := t.Context()
	seen := func(key string, until time.Duration) (bool, error) {
		return c.Seen(ctx, key, clock.Now().Add(until))
	}
	if s, err := seen("a", time.Minute); s || err != nil {
		t.Fatalf("first a: %v %v", s, err)
	}
	if s, err := seen("a", time.Minute); !s || err != nil {
		t.Fatalf("second a: %v %v", s, err)
	}
	if s, err := seen("b", 2*time.Minute); s || err != nil {
		t.Fatalf("first b: %v %v", s, err)
	}
	// Full of unexpired keys: fail closed, forgetting nothing.
	if _, err := seen("c", time.Minute); !errors.Is(err, errReplayCacheFull) {
		t.Fatalf("c in a full cache: %v", err)
	}
	if s, _ := seen("a", time.Minute); !s {
		t.Fatal("a forgotten when the cache was full")
	}
	// a expires: its room is taken by c, and a may come again.
	clock.Advance(time.Minute)
	if s, err := seen("c", time.Minute); s || err != nil {
		t.Fatalf("c after a expired: %v %v", s, err)
	}
	if n := c.len(); n != 2 {
		t.Errorf("%d keys held, want 2", n)
	}
	clock.Advance(time.Hour)
	if s, err := seen("a", time.Minute); s || err != nil {
		t.Fatalf("a after expiry: %v %v", s, err)
	}
	if n := c.len(); n != 1 {
		t.Errorf("%d keys held after all expired, want 1", n)
	}
}

func TestMemoryReplayCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := newMemoryReplayCache(1000, time.Now)
	var firsts atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range 100 {
				s, err := c.Seen(t.Context(), "k"+string(rune('a'+i%26)), time.Now().Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if !s {
					firsts.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := firsts.Load(); n != 26 {
		t.Errorf("%d first sightings of 26 keys", n)
	}
}

// TestDPoPReplayCacheFull: when the default cache is full of proofs in
// their window, DPoP requests are refused (503), until proofs expire.
func TestDPoPReplayCacheFull(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.DPoP.ReplayCacheSize = 2 })
	c := newDPoPClient(t, "ES256")
	h := f.v.Handler(whoami)
	send := func() int {
		t.Helper()
		tok := f.boundToken(t, c.jkt)
		return serve(h, dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))).Code
	}
	for i := range 2 {
		if code := send(); code != http.StatusOK {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if code := send(); code != http.StatusServiceUnavailable {
		t.Fatalf("cache full: %d", code)
	}
	tok := f.boundToken(t, c.jkt)
	if _, err := f.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, f, tok, nil))); !errors.Is(err, ErrReplayCacheFailed) {
		t.Fatalf("cache full: %v", err)
	}
	f.clock.Advance(DefaultDPoPMaxAge + DefaultDPoPLeeway)
	if code := send(); code != http.StatusOK {
		t.Fatalf("after the proofs expired: %d", code)
	}
}

// TestDPoPReplayCacheError: a failing cache refuses the request.
func TestDPoPReplayCacheError(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *Config) { c.DPoP.ReplayCache = failingCache{} })
	c := newDPoPClient(t, "ES256")
	_, err := f.v.Check(withProof(nil)(t, f, c))
	if !errors.Is(err, ErrReplayCacheFailed) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Check: %v", err)
	}
}

// TestDPoPReplayCacheCalls: the cache gets a fixed-size key made from the
// key and jti, kept until iat + MaxAge + Leeway, with a deadline; it is
// shared between validators; and a proof failing any other check never
// reaches it.
func TestDPoPReplayCacheCalls(t *testing.T) {
	t.Parallel()
	cache := &recordingCache{}
	edit := func(c *Config) { c.DPoP.ReplayCache = cache }
	a := newFixture(t, edit)
	b := newFixtureFor(t, a.srv, func(c *Config) { edit(c); c.Now = a.clock.Now })
	c := newDPoPClient(t, "ES256")
	tok := a.boundToken(t, c.jkt)
	iat := a.clock.Now().Add(-10 * time.Second)
	proof := c.proofFor(t, a, tok, set("iat", iat.Unix()))
	if _, err := a.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, proof)); err != nil {
		t.Fatalf("replica a: %v", err)
	}
	if _, err := b.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, proof)); !errors.Is(err, errReplayed) {
		t.Fatalf("replayed to replica b: %v", err)
	}
	if !cache.deadline {
		t.Error("a cache call without a deadline")
	}
	key := cache.keys[0]
	if !strings.HasPrefix(key, replayKeyPrefix) || len(key) != len(replayKeyPrefix)+43 || strings.Contains(key, c.jkt) {
		t.Errorf("key %q", key)
	}
	if want := iat.Add(DefaultDPoPMaxAge + DefaultDPoPLeeway); !cache.untils[0].Equal(want) {
		t.Errorf("until %v, want %v", cache.untils[0], want)
	}
	long := c.proofFor(t, a, tok, set("jti", strings.Repeat("j", maxJTIBytes)))
	if _, err := a.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, long)); err != nil {
		t.Fatal(err)
	}
	if k := cache.keys[len(cache.keys)-1]; len(k) != len(key) {
		t.Errorf("key of a long jti: %q", k)
	}

	calls := cache.calls.Load()
	for _, edit := range []func(h, claims map[string]any){
		set("htm", "POST"), set("ath", "x"), set("iat", 1), setHeader("typ", "jwt"),
	} {
		_, _ = a.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, c.proofFor(t, a, tok, edit)))
	}
	_, _ = a.v.Check(dpopRequest(http.MethodGet, dpopTarget, tok, corrupt(c.proofFor(t, a, tok, nil), 1)))
	other := a.boundToken(t, newDPoPClient(t, "ES256").jkt)
	_, _ = a.v.Check(dpopRequest(http.MethodGet, dpopTarget, other, c.proofFor(t, a, other, nil)))
	if n := cache.calls.Load() - calls; n != 0 {
		t.Errorf("%d refused proofs reached the cache", n)
	}
}

func TestReplayKey(t *testing.T) {
	t.Parallel()
	var a, b [32]byte
	b[0] = 1
	keys := map[string]bool{
		replayKey(&a, "x"):  true,
		replayKey(&b, "x"):  true,
		replayKey(&a, "y"):  true,
		replayKey(&a, "xx"): true,
	}
	if len(keys) != 4 {
		t.Errorf("keys collide: %v", keys)
	}
	if replayKey(&a, "x") != replayKey(&a, "x") {
		t.Error("key not deterministic")
	}
}
