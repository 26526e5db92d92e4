package middleware

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// defaultCacheSize is the number of verified tokens kept by default.
	defaultCacheSize = 10_000
	// cacheBytesPerEntry is the average memory budget of an entry: the
	// cache holds at most CacheSize × 4 KiB of token data in all.
	cacheBytesPerEntry = 4 << 10
	// cacheTTL caps how long a verified token is reused, whatever its exp.
	cacheTTL = 2 * time.Minute
	// entryOverhead approximates the memory of an entry beyond its token
	// and payload bytes (structs, map cells, decoded claim values).
	entryOverhead = 512
	// cacheWays is how many neighbouring slots a token may occupy.
	cacheWays = 4
	// evictTries bounds the slots cleared to get back under the byte
	// budget before giving up on an insertion.
	evictTries = 16
)

// tokenCache remembers tokens that passed Verify, so that a token seen
// again skips decoding and signature verification.
//
// It is keyed by the exact token: a 64-bit maphash (random seed per
// Validator) picks the slot and the stored token is compared in full, so
// a hash collision is a miss, never a wrong hit. An entry lives until the
// token's exp (plus the leeway, as Verify would accept it) or cacheTTL
// after it was verified, whichever is first, and dies with the key that
// verified it.
//
// It is a fixed array of CacheSize slots, each an atomic pointer: a token
// lives in one of cacheWays slots from its hash (a set-associative cache),
// replacing an empty or expired entry there, or else the one closest to
// expiry. Lookups take no lock and allocate nothing, so the hot path
// scales with cores. The entry count is bounded by the slots; the bytes of
// token data by an atomic budget of CacheSize × 4 KiB, enforced by
// clearing slots. A nil *tokenCache is a disabled cache.
type tokenCache struct {
	seed     maphash.Seed
	slots    []atomic.Pointer[cacheEntry]
	bytes    atomic.Int64
	maxBytes int64
}

type cacheEntry struct {
	hash     uint64
	token    string
	claims   *Claims
	key      *verifyKey
	notAfter time.Time
	size     int64
}

func newTokenCache(size int) *tokenCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = defaultCacheSize
	}
	return &tokenCache{
		seed:     maphash.MakeSeed(),
		slots:    make([]atomic.Pointer[cacheEntry], size),
		maxBytes: int64(size) * cacheBytesPerEntry,
	}
}

// slot returns the i-th slot token's hash h may occupy.
func (c *tokenCache) slot(h uint64, i int) *atomic.Pointer[cacheEntry] {
	return &c.slots[(h+uint64(i))%uint64(len(c.slots))]
}

// get returns the claims of token if it was verified, has not expired at
// now, and its key is still in the key set.
func (c *tokenCache) get(token string, now time.Time) (*Claims, bool) {
	if c == nil {
		return nil, false
	}
	h := maphash.String(c.seed, token)
	for i := range cacheWays {
		s := c.slot(h, i)
		e := s.Load()
		if e == nil || e.hash != h || e.token != token {
			continue
		}
		if e.usable(now) {
			return e.claims, true
		}
		c.clear(s, e)
		return nil, false
	}
	return nil, false
}

func (e *cacheEntry) usable(now time.Time) bool {
	return now.Before(e.notAfter) && !e.key.removed.Load()
}

// clear empties slot s if it still holds e.
func (c *tokenCache) clear(s *atomic.Pointer[cacheEntry], e *cacheEntry) {
	if s.CompareAndSwap(e, nil) {
		c.bytes.Add(-e.size)
	}
}

// put remembers a verified token until notAfter.
func (c *tokenCache) put(token string, claims *Claims, key *verifyKey, now, notAfter time.Time) {
	if c == nil {
		return
	}
	e := &cacheEntry{
		hash:     maphash.String(c.seed, token),
		claims:   claims,
		key:      key,
		notAfter: notAfter,
		size:     int64(len(token) + 2*len(claims.payload) + entryOverhead),
	}
	if e.size > c.maxBytes/4 {
		return
	}
	e.token = strings.Clone(token) // not the request's header memory
	target := c.victim(e.hash, now)
	if old := target.Swap(e); old != nil {
		c.bytes.Add(-old.size)
	}
	if c.bytes.Add(e.size) > c.maxBytes {
		c.shrink(e.hash)
		if c.bytes.Load() > c.maxBytes {
			c.clear(target, e)
		}
	}
}

// victim picks the slot for a token of hash h: one holding the same token
// or nothing, else an unusable entry, else the entry closest to expiry.
func (c *tokenCache) victim(h uint64, now time.Time) *atomic.Pointer[cacheEntry] {
	var best *atomic.Pointer[cacheEntry]
	var bestEnd time.Time
	for i := range cacheWays {
		s := c.slot(h, i)
		e := s.Load()
		switch {
		case e == nil || e.hash == h || !e.usable(now):
			return s
		case best == nil || e.notAfter.Before(bestEnd):
			best, bestEnd = s, e.notAfter
		}
	}
	return best
}

// shrink clears slots after h's until the byte budget is met or
// evictTries slots were looked at.
func (c *tokenCache) shrink(h uint64) {
	for i := cacheWays; i < cacheWays+evictTries && c.bytes.Load() > c.maxBytes; i++ {
		s := c.slot(h, i)
		if e := s.Load(); e != nil {
			c.clear(s, e)
		}
	}
}

// len returns the number of entries and their estimated bytes.
func (c *tokenCache) len() (entries int, bytes int64) {
	if c == nil {
		return 0, 0
	}
	for i := range c.slots {
		if c.slots[i].Load() != nil {
			entries++
		}
	}
	return entries, c.bytes.Load()
}
