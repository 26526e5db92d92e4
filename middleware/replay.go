package middleware

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ReplayCache remembers the DPoP proofs a Validator accepted, so that a
// proof used twice is refused (RFC 9449 §11.1). Replicas of an API must
// share one, or a proof replayed to another replica is accepted there;
// session.RedisCache is one they can share.
type ReplayCache interface {
	// Seen reports whether key was recorded before and has not expired,
	// and otherwise records it until until, atomically: of concurrent
	// calls with one key, exactly one returns false. An error refuses the
	// request (ErrReplayCacheFailed): the proof cannot be known fresh.
	Seen(ctx context.Context, key string, until time.Time) (bool, error)
}

// replayKeyPrefix starts every key the Validator gives its ReplayCache,
// so that a cache shared with other users (an RP's logout-token jtis)
// cannot mix them up.
const replayKeyPrefix = "dpop-jti:"

// replayKey is the cache key of a proof: the base64url SHA-256 of the
// thumbprint of its key and its jti, so that two clients cannot collide
// by choosing the same jti, keys have a fixed size whatever the jti, and
// a shared cache shows neither.
func replayKey(thumbprint *[sha256.Size]byte, jti string) string {
	var buf [sha256.Size + maxJTIBytes]byte
	b := append(append(buf[:0], thumbprint[:]...), jti...)
	sum := sha256.Sum256(b)
	var out [len(replayKeyPrefix) + 43]byte
	copy(out[:], replayKeyPrefix)
	b64.Encode(out[len(replayKeyPrefix):], sum[:])
	return string(out[:])
}

// errReplayCacheFull is what the in-memory cache fails with when it holds
// its bound of unexpired keys.
var errReplayCacheFull = errors.New("in-memory replay cache full of unexpired proofs")

// memoryReplayCache is the default ReplayCache: keys in this process's
// memory, forgotten at restart and not shared between replicas. It holds
// at most max unexpired keys; when full it refuses to record more (Seen
// fails) rather than forget a key that could then be replayed: under a
// flood of valid proofs, DPoP requests fail with 503 until keys expire,
// which takes MaxAge and Leeway at most. Expired keys are dropped as
// calls come, soonest-expiring first, in O(log n) each. Safe for
// concurrent use.
type memoryReplayCache struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]time.Time // key → until
	expiry  replayHeap           // the same keys, soonest-expiring first
}

func newMemoryReplayCache(max int, now func() time.Time) *memoryReplayCache {
	return &memoryReplayCache{max: max, now: now, entries: make(map[string]time.Time)}
}

// Seen implements ReplayCache.
func (c *memoryReplayCache) Seen(_ context.Context, key string, until time.Time) (bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep(now)
	if _, ok := c.entries[key]; ok {
		return true, nil
	}
	if len(c.entries) >= c.max {
		return false, errReplayCacheFull
	}
	c.entries[key] = until
	heap.Push(&c.expiry, replayEntry{key, until})
	return false, nil
}

// sweep drops the keys expired at now. It runs at most once per key ever
// recorded, so its cost is amortised over the calls that recorded them.
func (c *memoryReplayCache) sweep(now time.Time) {
	for len(c.expiry) > 0 && !now.Before(c.expiry[0].until) {
		e := heap.Pop(&c.expiry).(replayEntry)
		delete(c.entries, e.key)
	}
}

// len returns the number of keys held, expired ones included.
func (c *memoryReplayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

type replayEntry struct {
	key   string
	until time.Time
}

// replayHeap orders entries by expiry, for container/heap.
type replayHeap []replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h replayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *replayHeap) Push(x any)        { *h = append(*h, x.(replayEntry)) }
func (h *replayHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = replayEntry{}
	*h = old[:len(old)-1]
	return e
}

// replayTimeout bounds a call to a ReplayCache other than the default one,
// whatever the cache does with its context.
const replayTimeout = 2 * time.Second

// checkReplay records p's key and jti in the replay cache until its
// acceptance window ends (iat + MaxAge + Leeway), and refuses a proof
// seen before. It is the last step of the proof checks, so that only
// proofs that passed every other check take room in the cache. A failing
// cache refuses the request: fail closed.
func (d *dpopPolicy) checkReplay(ctx context.Context, p *proof) error {
	if d.replayTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.replayTimeout)
		defer cancel()
	}
	until := p.iat.Add(d.maxAge + d.leeway)
	seen, err := d.replay.Seen(ctx, replayKey(&p.key.thumbprint, p.jti), until)
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrReplayCacheFailed, err)
	case seen:
		return errReplayed
	}
	return nil
}
