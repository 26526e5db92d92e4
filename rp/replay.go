package rp

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// ReplayCache remembers keys for a while, to refuse a message seen before:
// the RP records the jti of each logout token it accepts, until the token
// expires. Replicas of an app must share one (session.RedisCache is one),
// or a token replayed to another replica is accepted there.
type ReplayCache interface {
	// Seen reports whether key was recorded before and has not expired,
	// and otherwise records it until until, atomically: of concurrent
	// calls with one key, exactly one returns false.
	Seen(ctx context.Context, key string, until time.Time) (bool, error)
}

// LogoutList remembers when provider sessions and users were logged out
// (back- and front-channel logout), so that sessions begun before can be
// refused on every replica, whatever the session store: a cookie session
// cannot be deleted by the server, but it can be refused. Keys are opaque,
// of fixed size, made by the RP from the issuer and a sid or sub.
// session.RedisCache is one that replicas can share. While Latest fails,
// sessions are answered 503 (see Authenticate).
type LogoutList interface {
	// Record notes that each of keys was logged out at at, to be
	// remembered until until. Recording a key again replaces its entry;
	// the RP records the current time, so the later logout wins.
	Record(ctx context.Context, at, until time.Time, keys ...string) error
	// Latest returns the latest logout time recorded for any of keys, or
	// the zero time when none is. The RP calls it once per request that
	// loads a session, so it should cost one lookup (a Redis MGET).
	Latest(ctx context.Context, keys ...string) (time.Time, error)
}

// defaultMaxEntries is MemoryCache's bound when MaxEntries is zero.
const defaultMaxEntries = 100_000

// MemoryCache is a ReplayCache and a LogoutList in this process's memory:
// the default of an RP. It is shared by the RPs given the same
// *MemoryCache, but not across processes, and forgotten at restart: an
// app on several machines, or whose logouts must survive restarts, needs
// a shared store (Redis) instead.
//
// It holds at most MaxEntries unexpired entries; when full, recording one
// more first drops those that expire soonest. Front-channel logout is
// unauthenticated, so a flood of front-channel requests can push recorded
// logouts out of a full MemoryCache: where that matters, use a shared
// store without such a bound, or do not serve front-channel logout.
//
// The zero value is usable. It is safe for concurrent use; do not change
// its fields after first use.
type MemoryCache struct {
	// MaxEntries bounds the number of entries; 0 means 100,000.
	MaxEntries int
	// Now is the clock that expires entries; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]*cacheEntry
	expiry  expiryHeap // the same entries, soonest-expiring first
}

type cacheEntry struct {
	key   string
	at    time.Time // when a logout happened; zero for a replay key
	until time.Time
	index int // in expiry
}

var (
	_ ReplayCache = (*MemoryCache)(nil)
	_ LogoutList  = (*MemoryCache)(nil)
)

// Seen implements ReplayCache.
func (c *MemoryCache) Seen(_ context.Context, key string, until time.Time) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.expire(now)
	if _, ok := c.entries[key]; ok {
		return true, nil
	}
	c.put(key, time.Time{}, until)
	return false, nil
}

// Record implements LogoutList.
func (c *MemoryCache) Record(_ context.Context, at, until time.Time, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(c.now())
	for _, k := range keys {
		c.put(k, at, until)
	}
	return nil
}

// Latest implements LogoutList.
func (c *MemoryCache) Latest(_ context.Context, keys ...string) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var latest time.Time
	for _, k := range keys {
		if e, ok := c.entries[k]; ok && now.Before(e.until) && e.at.After(latest) {
			latest = e.at
		}
	}
	return latest, nil
}

func (c *MemoryCache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// expire drops the entries that have expired at now.
func (c *MemoryCache) expire(now time.Time) {
	for len(c.expiry) > 0 && !now.Before(c.expiry[0].until) {
		e := heap.Pop(&c.expiry).(*cacheEntry)
		delete(c.entries, e.key)
	}
}

// put records or replaces key, dropping the soonest-expiring entries
// while the cache is full.
func (c *MemoryCache) put(key string, at, until time.Time) {
	if c.entries == nil {
		c.entries = make(map[string]*cacheEntry)
	}
	if e, ok := c.entries[key]; ok {
		e.at, e.until = at, until
		heap.Fix(&c.expiry, e.index)
		return
	}
	max := c.MaxEntries
	if max <= 0 {
		max = defaultMaxEntries
	}
	for len(c.entries) >= max {
		e := heap.Pop(&c.expiry).(*cacheEntry)
		delete(c.entries, e.key)
	}
	e := &cacheEntry{key: key, at: at, until: until}
	c.entries[key] = e
	heap.Push(&c.expiry, e)
}

// expiryHeap orders entries by expiry, for container/heap.
type expiryHeap []*cacheEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *expiryHeap) Push(x any) {
	e := x.(*cacheEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
