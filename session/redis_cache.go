package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCacheConfig configures a RedisCache. The zero value is usable: keys
// under "keyway:" and two seconds for each Redis call.
type RedisCacheConfig struct {
	// KeyPrefix starts every Redis key the cache uses; "" means "keyway:".
	// A cache and a RedisStore may share a prefix: their keys differ. A Redis
	// Cluster or Ring client needs a hash tag in it, such as "{keyway}:",
	// because Record and Latest touch several keys at once.
	KeyPrefix string

	// OpTimeout bounds each Redis call, including the time to connect; 0
	// means two seconds. A call past it fails with ErrUnavailable, as with
	// RedisConfig.OpTimeout.
	OpTimeout time.Duration
}

// RedisCache remembers keys in Redis, for replicas of an app that must
// agree on what they have seen and on who was logged out. It has the
// methods of rp.ReplayCache (Seen) and of rp.LogoutList (Record, Latest),
// so one RedisCache can serve as both: pass it as rp.Config.ReplayCache and
// rp.Config.Logouts.
//
// Seen stores a key under KeyPrefix+"r:"+key, Record under
// KeyPrefix+"l:"+key; each expires in Redis at the until it was given,
// by the Redis server's clock. Keys are stored as given: the RP's are hashes
// that show no user.
//
// Each method makes at most one round trip, bounded by OpTimeout, whose
// failure wraps ErrUnavailable. Not checked: the clocks of the app and of
// Redis agree (an until already past by the Redis clock is forgotten at once).
//
// A RedisCache is safe for concurrent use. The zero RedisCache is not
// usable: create one with NewRedisCache.
type RedisCache struct {
	client    redis.UniversalClient
	keyPrefix string
	opTimeout time.Duration
}

// NewRedisCache returns a cache keeping its keys in the Redis that client
// talks to.
func NewRedisCache(client redis.UniversalClient, cfg RedisCacheConfig) (*RedisCache, error) {
	if client == nil {
		return nil, errors.New("session: nil Redis client")
	}
	c := &RedisCache{
		client:    client,
		keyPrefix: cmp.Or(cfg.KeyPrefix, defaultKeyPrefix),
		opTimeout: cmp.Or(cfg.OpTimeout, defaultOpTimeout),
	}
	if c.opTimeout < 0 {
		return nil, fmt.Errorf("session: negative OpTimeout %v", c.opTimeout)
	}
	switch client.(type) {
	case *redis.ClusterClient, *redis.Ring:
		if !hasHashTag(c.keyPrefix) {
			return nil, fmt.Errorf("session: KeyPrefix %q has no hash tag: with a Redis Cluster or Ring use one such as \"{keyway}:\"", c.keyPrefix)
		}
	}
	return c, nil
}

// Seen reports whether key was recorded by Seen before and has not expired;
// otherwise it records key until until. It is one SET NX PXAT, so of
// concurrent calls with one key, on any replica, exactly one returns false.
func (c *RedisCache) Seen(ctx context.Context, key string, until time.Time) (bool, error) {
	_, err := call(ctx, c.opTimeout, "record seen key", func(ctx context.Context) (string, error) {
		return c.client.Do(ctx, "SET", c.keyPrefix+"r:"+key, "1", "NX", "PXAT", pxat(until)).Text()
	})
	switch {
	case errors.Is(err, redis.Nil): // NX: the key was there
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// recordScript notes a logout time under each key, keeping a later one
// already there. ARGV[1] is the time in Unix nanoseconds as 20 decimal
// digits, so that times compare as strings (exactly, unlike Lua's numbers);
// ARGV[2] is the expiry in Unix milliseconds. A value that is not such a
// time (up to the largest int64) is replaced.
var recordScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
	local cur = redis.call('GET', k)
	local valid = cur and #cur == #ARGV[1] and string.match(cur, '^%d+$') and cur <= '09223372036854775807'
	if not valid or cur < ARGV[1] then
		redis.call('SET', k, ARGV[1], 'PXAT', ARGV[2])
	end
end
return #KEYS
`)

// Record notes that each of keys was logged out at at, until until. Where a
// key holds a later logout already (recorded by a replica whose clock is
// ahead), that one is kept. It is one script: all keys or none.
func (c *RedisCache) Record(ctx context.Context, at, until time.Time, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	if at.Before(time.Unix(0, 0)) {
		return fmt.Errorf("session: logout time %v is before 1970", at)
	}
	_, err := call(ctx, c.opTimeout, "record logout", func(ctx context.Context) (int64, error) {
		return recordScript.Run(ctx, c.client, c.logoutKeys(keys), formatNanos(at), pxat(until)).Int64()
	})
	return err
}

// Latest returns the latest logout time recorded for any of keys and not
// expired, or the zero time when there is none. It is one MGET.
func (c *RedisCache) Latest(ctx context.Context, keys ...string) (time.Time, error) {
	if len(keys) == 0 {
		return time.Time{}, nil
	}
	vals, err := call(ctx, c.opTimeout, "read logouts", func(ctx context.Context) ([]any, error) {
		return c.client.MGet(ctx, c.logoutKeys(keys)...).Result()
	})
	if err != nil {
		return time.Time{}, err
	}
	var latest time.Time
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, _ := v.(string)
		ns, err := strconv.ParseInt(s, 10, 64)
		if err != nil || len(s) != nanosDigits || ns < 0 {
			return time.Time{}, fmt.Errorf("session: logout entry %q holds %q, not a time", keys[i], s)
		}
		if at := time.Unix(0, ns); at.After(latest) {
			latest = at
		}
	}
	return latest, nil
}

func (c *RedisCache) logoutKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = c.keyPrefix + "l:" + k
	}
	return out
}

// nanosDigits is the width of a stored logout time.
const nanosDigits = 20

// formatNanos writes t, not before 1970, in Unix nanoseconds as nanosDigits
// decimal digits.
func formatNanos(t time.Time) string {
	return fmt.Sprintf("%0*d", nanosDigits, t.UnixNano())
}

// pxat returns t in Unix milliseconds for PXAT, at least 1 (Redis refuses
// 0 and negative times; a past one expires the key at once).
func pxat(t time.Time) int64 {
	return max(t.UnixMilli(), 1)
}
