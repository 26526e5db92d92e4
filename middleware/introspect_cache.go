package middleware

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"
)

// evictScan is how many entries eviction looks at to find the one to drop.
const evictScan = 8

// errIntrospectorClosed refuses opaque tokens the cache cannot answer
// once the Validator is closed.
var errIntrospectorClosed = fmt.Errorf("%w: the validator is closed", ErrIntrospection)

// introspectionCache remembers introspection verdicts, keyed by the
// SHA-256 of the token: the token itself is never kept. An entry is an
// accepted token's claims until the token's exp or MaxCacheTTL, or a
// refusal's error for NegativeTTL.
//
// It holds at most CacheSize entries and CacheSize × 4 KiB of answers; to
// make room, an expired entry is dropped, else the one closest to expiry
// among a few picked at random (map order). A nil *introspectionCache is
// a disabled cache. Safe for concurrent use; lookups share a read lock.
type introspectionCache struct {
	mu         sync.RWMutex
	entries    map[[sha256.Size]byte]*introspected
	bytes      int64
	maxEntries int
	maxBytes   int64
}

// introspected is one cached verdict: claims, or err.
type introspected struct {
	claims   *Claims
	err      error
	notAfter time.Time
	size     int64
}

func newIntrospectionCache(size int) *introspectionCache {
	if size < 0 {
		return nil
	}
	if size == 0 {
		size = defaultCacheSize
	}
	return &introspectionCache{
		entries:    make(map[[sha256.Size]byte]*introspected),
		maxEntries: size,
		maxBytes:   int64(size) * cacheBytesPerEntry,
	}
}

// get returns the verdict for key if there is one still valid at now.
func (c *introspectionCache) get(key [sha256.Size]byte, now time.Time) (*introspected, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.notAfter) {
		return nil, false
	}
	return e, true
}

// put remembers claims, or err, for key until notAfter.
func (c *introspectionCache) put(key [sha256.Size]byte, claims *Claims, err error, notAfter, now time.Time) {
	if c == nil || !now.Before(notAfter) {
		return
	}
	e := &introspected{claims: claims, err: err, notAfter: notAfter, size: entryOverhead}
	if claims != nil {
		e.size += 2 * int64(len(claims.payload))
	}
	if err != nil {
		e.size += int64(len(err.Error()))
	}
	if e.size > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[key]; old != nil {
		delete(c.entries, key)
		c.bytes -= old.size
	}
	// Each round drops an entry, so this ends within len(entries) rounds.
	for len(c.entries) > 0 && (len(c.entries) >= c.maxEntries || c.bytes+e.size > c.maxBytes) {
		c.dropOne(now)
	}
	c.entries[key] = e
	c.bytes += e.size
}

// dropOne removes an expired entry, or else the one closest to expiry
// among evictScan entries.
func (c *introspectionCache) dropOne(now time.Time) {
	var victim [sha256.Size]byte
	var end time.Time
	n := 0
	for k, e := range c.entries {
		if n == 0 || e.notAfter.Before(end) {
			victim, end = k, e.notAfter
		}
		if n++; n == evictScan || !now.Before(end) {
			break
		}
	}
	c.bytes -= c.entries[victim].size
	delete(c.entries, victim)
}

// len returns the number of entries and their estimated bytes.
func (c *introspectionCache) len() (int, int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries), c.bytes
}

// flight is one introspection call, shared by the requests carrying the
// same token; done is closed when claims and err are set.
type flight struct {
	done    chan struct{}
	claims  *Claims
	err     error
	waiters int // requests still waiting; guarded by introspector.mu
	cancel  context.CancelFunc
}

// share runs fn once for the concurrent callers with the same key and
// returns its result to each. The call runs in its own goroutine, bounded
// by the Validator's context: a caller whose ctx ends returns at once,
// and the call is cancelled when the last caller has left (or at Close),
// so that it never outlives every request that wanted it.
func (in *introspector) share(ctx context.Context, key [sha256.Size]byte, fn func(context.Context) (*Claims, error)) (*Claims, error) {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil, errIntrospectorClosed
	}
	f := in.flights[key]
	if f == nil {
		fctx, cancel := context.WithCancel(in.ctx)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		in.flights[key] = f
		in.wg.Add(1)
		go in.run(fctx, key, f, fn)
	}
	f.waiters++
	in.mu.Unlock()
	select {
	case <-f.done:
		return f.claims, f.err
	case <-ctx.Done():
		in.leave(key, f)
		return nil, fmt.Errorf("%w: %w", ErrIntrospection, ctx.Err())
	}
}

// run carries out flight f.
func (in *introspector) run(ctx context.Context, key [sha256.Size]byte, f *flight, fn func(context.Context) (*Claims, error)) {
	defer in.wg.Done()
	f.claims, f.err = fn(ctx)
	f.cancel()
	in.mu.Lock()
	if in.flights[key] == f {
		delete(in.flights, key)
	}
	in.mu.Unlock()
	close(f.done)
}

// leave records that a caller of f stopped waiting, and cancels f when
// it was the last one.
func (in *introspector) leave(key [sha256.Size]byte, f *flight) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if f.waiters--; f.waiters == 0 {
		f.cancel()
		if in.flights[key] == f {
			delete(in.flights, key)
		}
	}
}
