// Package redisconn connects the examples to Redis from a REDIS_URL, with
// the timeouts a server needs.
package redisconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts of the Redis client, where REDIS_URL sets none (its dial_timeout,
// read_timeout, write_timeout and pool_timeout parameters). The session
// store also bounds each call it makes, by two seconds.
const (
	redisDialTimeout = 2 * time.Second
	redisIOTimeout   = time.Second
	redisPingTimeout = 5 * time.Second
)

// Connect connects to the Redis at redisURL, checking that it answers.
func Connect(ctx context.Context, redisURL string) (*redis.Client, error) {
	if redisURL == "" {
		return nil, errors.New("REDIS_URL is empty; want a URL such as redis://127.0.0.1:6379/0")
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		// A url.Error quotes the URL, and with it any password.
		if urlErr := (*url.Error)(nil); errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("REDIS_URL is not a Redis URL (redis://[user:password@]host[:port][/db] or rediss://…): %w", err)
	}
	// Honour the context deadlines the session store sets on each call, so
	// that a call abandoned at its deadline also gives its connection up.
	opt.ContextTimeoutEnabled = true
	opt.DialTimeout = cmp.Or(opt.DialTimeout, redisDialTimeout)
	opt.ReadTimeout = cmp.Or(opt.ReadTimeout, redisIOTimeout)
	opt.WriteTimeout = cmp.Or(opt.WriteTimeout, redisIOTimeout)
	opt.PoolTimeout = cmp.Or(opt.PoolTimeout, redisDialTimeout)
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		return nil, errors.Join(fmt.Errorf("REDIS_URL: Redis at %s does not answer: %w", opt.Addr, err), client.Close())
	}
	return client, nil
}
