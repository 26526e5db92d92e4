package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable means a RedisStore or a RedisCache could not complete a
// Redis call: Redis was unreachable, slower than OpTimeout, or answered with
// an error. Get and New return it with a new, empty session, although the
// request's session may well exist: answer 503 rather than treating the user
// as logged out, and do not save the new session over theirs. Save returns it
// and writes no cookie.
var ErrUnavailable = errors.New("session: redis unavailable")

// Defaults of RedisConfig.
const (
	defaultKeyPrefix = "keyway:"
	defaultOpTimeout = 2 * time.Second
)

// RedisConfig configures a RedisStore. The zero value is usable: the cookie
// attributes and timeouts of a zero CookieConfig, keys under "keyway:", and
// two seconds for each Redis call.
type RedisConfig struct {
	// Path, Domain, Secure and SameSite are the attributes of the session
	// cookie, as in CookieConfig, with the same defaults, checks and name
	// prefixes ("__Host-" or "__Secure-" when Secure).
	Path     string
	Domain   string
	Secure   bool
	SameSite http.SameSite

	// IdleTimeout, SkipIdleTimeout and AbsoluteTimeout end sessions as in
	// CookieConfig (defaults: one hour idle, 24 hours absolute), enforced from
	// the times sealed in the session's Redis value and also by the key's TTL,
	// which each save sets to the session's remaining lifetime: the shorter of
	// IdleTimeout and the time left to its absolute timeout. Redis forgets
	// a session when it times out.
	IdleTimeout     time.Duration
	SkipIdleTimeout bool
	AbsoluteTimeout time.Duration

	// KeyPrefix starts every Redis key the store uses; "" means "keyway:".
	// Stores sharing a Redis give it different prefixes, or share sessions.
	// A Redis Cluster or Ring client needs a hash tag in it, such as
	// "{keyway}:": a save updates a session and its index entries in one
	// script, so they must share a slot, and the store then lives on one shard.
	KeyPrefix string

	// OpTimeout bounds each Redis call, including the time to connect; 0
	// means two seconds. A call past it fails with ErrUnavailable. The
	// store returns at the deadline even when the client ignores contexts
	// (go-redis does unless its options set ContextTimeoutEnabled; set it, so
	// that an abandoned call also releases its connection at the deadline).
	OpTimeout time.Duration

	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// Logger, if set, receives a record for each session cookie Get or New
	// cannot use: Info for an invalid one, Debug for an expired or ended one,
	// Warn when Redis could not be asked; and a Warn record when an unlock
	// fails. Values are never logged. nil means no logging.
	Logger *slog.Logger
}

// cookieConfig returns the CookieConfig holding cfg's cookie attributes,
// timeouts, clock and logger, with defaults applied and checked.
func (cfg RedisConfig) cookieConfig() (CookieConfig, error) {
	return CookieConfig{
		Path:            cfg.Path,
		Domain:          cfg.Domain,
		Secure:          cfg.Secure,
		SameSite:        cfg.SameSite,
		IdleTimeout:     cfg.IdleTimeout,
		SkipIdleTimeout: cfg.SkipIdleTimeout,
		AbsoluteTimeout: cfg.AbsoluteTimeout,
		Now:             cfg.Now,
		Logger:          cfg.Logger,
	}.withDefaults()
}

// RedisStore is a sessions.Store that keeps sessions in Redis. The cookie
// holds only the session ID and a MAC binding it to the store's secrets and
// the cookie name (see the package documentation), so a forged or altered
// cookie is refused without asking Redis. The Redis value of a session, under
// KeyPrefix+"s:"+ID, holds its Values (encoded with encoding/gob), its
// creation and last-save times and its Identity, sealed with AES-256-GCM like
// a CookieStore cookie and bound to its key: a Redis dump shows no tokens, and
// a value copied to another key does not open.
//
// Unlike a cookie, a Redis session can be ended by the server: Delete ends
// one (logout), EndSessions ends every session of a user or provider session
// (back-channel logout, on any replica sharing the Redis), and the ended
// session's cookie is refused from then on, even if a request that loaded it
// earlier saves it afterwards. Rotate changes a session's ID at login, and
// the next Save deletes the old one. Lock and Reload let replicas refresh a
// session's tokens once.
//
// Each Redis call is bounded by OpTimeout and its failures wrap
// ErrUnavailable. Get and New make one round trip (none without a valid
// cookie), Save one, writing the session, its index entries and the deletion
// of rotated IDs in a single script: all or nothing. Save honours only
// Options.MaxAge < 0 (delete the session) from a session's Options: the cookie
// attributes always come from the RedisConfig.
//
// Not checked: the cookie is a bearer credential until the session ends. Two
// requests of one session saving at once each write the whole session: the
// last save wins (use Lock where that matters). A save whose reply is lost
// may have been applied although Save reports ErrUnavailable.
//
// A RedisStore is safe for concurrent use. A *sessions.Session is not. The
// zero RedisStore is not usable: create one with NewRedisStore.
type RedisStore struct {
	client    redis.UniversalClient
	cfg       CookieConfig // cookie attributes, timeouts, clock, logger; defaults applied
	prefix    string       // cookie name prefix: "__Host-", "__Secure-" or ""
	keyPrefix string
	opTimeout time.Duration
	sealer    *sealer
	ids       *idTagger
	index     *indexNamer
	state     sideTable[redisState]
}

var _ sessions.Store = (*RedisStore)(nil)

// NewRedisStore returns a store keeping sessions in the Redis that client
// talks to. Its keys are secrets of at least MinKeySize random bytes, newest
// first, used as by NewCookieStore: the newest seals values and tags IDs, any
// opens and checks them. The store keeps no copy of them.
func NewRedisStore(client redis.UniversalClient, keys [][]byte, cfg RedisConfig) (*RedisStore, error) {
	if client == nil {
		return nil, errors.New("session: nil Redis client")
	}
	sealer, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	ids, err := newIDTagger(keys)
	if err != nil {
		return nil, err
	}
	index, err := newIndexNamer(keys)
	if err != nil {
		return nil, err
	}
	cookies, err := cfg.cookieConfig()
	if err != nil {
		return nil, err
	}
	s := &RedisStore{
		client:    client,
		cfg:       cookies,
		prefix:    namePrefix(cookies),
		keyPrefix: cmp.Or(cfg.KeyPrefix, defaultKeyPrefix),
		opTimeout: cmp.Or(cfg.OpTimeout, defaultOpTimeout),
		sealer:    sealer,
		ids:       ids,
		index:     index,
	}
	if s.opTimeout < 0 {
		return nil, fmt.Errorf("session: negative OpTimeout %v", s.opTimeout)
	}
	switch client.(type) {
	case *redis.ClusterClient, *redis.Ring:
		if !hasHashTag(s.keyPrefix) {
			return nil, fmt.Errorf("session: KeyPrefix %q has no hash tag: with a Redis Cluster or Ring use one such as \"{keyway}:\"", s.keyPrefix)
		}
	}
	return s, nil
}

// hasHashTag reports whether Redis Cluster hashes key by a part in braces.
func hasHashTag(key string) bool {
	_, after, ok := strings.Cut(key, "{")
	end := strings.Index(after, "}")
	return ok && end > 0
}

// redisState is what a RedisStore knows of a session besides its ID and
// Values. A session from sessions.NewSession, or a new one from New, has none.
type redisState struct {
	id       string   // the ID the store gave the session; sess.ID must still be it
	stored   bool     // whether id's data is in Redis: loaded, or saved
	times    times    // as loaded, saved or rotated
	identity Identity // as loaded, or set by Bind

	storedIdentity Identity  // the identity indexed for id in Redis
	retired        []retired // IDs left by Rotate, deleted by the next Save or Delete
}

// retired is an ID a session had, with the identity it was indexed under.
type retired struct {
	id       string
	identity Identity
}

// Get returns the session called name, loading it once per request through
// gorilla's registry; see New for what it returns.
func (s *RedisStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session called name, without the registry: it checks the
// ID in r's cookie and reads the session from Redis. When r carries no usable
// session it returns a new session (IsNew true, empty Values, a fresh random
// ID), with ErrInvalid for a malformed or forged cookie or an undecodable
// value, ErrExpired for a session timed out or ended (its data is gone from
// Redis), or ErrUnavailable when Redis could not be asked. The returned
// session is never nil.
func (s *RedisStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.cfg.options()
	sess.Options = &opts
	sess.IsNew = true
	sess.ID = newID()
	if err := checkName(name); err != nil {
		return sess, err
	}
	if err := s.load(r, sess); err != nil {
		s.cfg.logRejected(r, name, err)
		return sess, err
	}
	return sess, nil
}

// load fills sess from the session whose ID r's cookie holds, if any. On error
// sess is unchanged.
func (s *RedisStore) load(r *http.Request, sess *sessions.Session) error {
	if r == nil {
		return nil
	}
	name := s.cookieName(sess.Name())
	c, err := r.Cookie(name)
	if err != nil {
		return nil // no cookie
	}
	id, err := s.ids.decode(name, c.Value)
	if err != nil {
		return err
	}
	rec, values, err := s.fetch(r.Context(), id)
	if err != nil {
		return err
	}
	sess.ID, sess.Values, sess.IsNew = id, values, false
	s.state.set(sess, redisState{
		id: id, stored: true, times: rec.payload.times,
		identity: rec.identity, storedIdentity: rec.identity,
	})
	return nil
}

// fetch reads, opens and checks the session stored under id.
func (s *RedisStore) fetch(ctx context.Context, id string) (record, map[any]any, error) {
	key := s.dataKey(id)
	sealed, err := call(ctx, s.opTimeout, "load session", func(ctx context.Context) ([]byte, error) {
		return s.client.Get(ctx, key).Bytes()
	})
	if errors.Is(err, redis.Nil) {
		return record{}, nil, fmt.Errorf("%w: not in Redis: timed out or ended", ErrExpired)
	}
	if err != nil {
		return record{}, nil, err
	}
	plaintext, err := s.sealer.open(key, sealed)
	if err != nil {
		return record{}, nil, err
	}
	rec, err := unmarshalRecord(plaintext)
	if err != nil {
		return record{}, nil, err
	}
	if rec.payload.id != id {
		return record{}, nil, fmt.Errorf("%w: session record holds another ID", ErrInvalid)
	}
	if err := s.cfg.checkTimeouts(rec.payload.times, s.cfg.now(), true); err != nil {
		return record{}, nil, err
	}
	values, err := decodeValues(rec.payload.values)
	if err != nil {
		return record{}, nil, err
	}
	return rec, values, nil
}

// Reload reads sess again from Redis, replacing its Values, times and
// identity, as after Lock: another replica may have changed it meanwhile.
// It returns ErrExpired when the session has ended or timed out since it was
// loaded, ErrUnavailable when Redis could not be asked, and an error for a
// session the store has not loaded or saved. On error sess is unchanged.
func (s *RedisStore) Reload(ctx context.Context, sess *sessions.Session) error {
	st, _ := s.state.get(sess)
	if !st.stored || sess.ID != st.id {
		return errors.New("session: Reload of a session not loaded from or saved to Redis")
	}
	rec, values, err := s.fetch(ctx, st.id)
	if err != nil {
		return err
	}
	sess.Values = values
	st.times, st.identity, st.storedIdentity = rec.payload.times, rec.identity, rec.identity
	s.state.set(sess, st)
	return nil
}

// Rotate gives sess a new random ID and restarts its lifetime: the absolute
// timeout runs from now. Values and the bound Identity are kept. The next
// Save stores the session under the new ID and, in the same script, deletes
// the old ID's data and index entries (as does Delete), so a cookie planted
// or copied before the rotation is worth nothing after it. Call it whenever
// privileges change, such as at login.
func (s *RedisStore) Rotate(sess *sessions.Session) {
	st, _ := s.state.get(sess)
	if st.stored {
		st.retired = append(st.retired[:len(st.retired):len(st.retired)], retired{st.id, st.storedIdentity})
	}
	sess.ID = newID()
	now := s.cfg.now()
	st.id, st.stored, st.times, st.storedIdentity = sess.ID, false, times{created: now, saved: now}, Identity{}
	s.state.set(sess, st)
}

// Activity returns when sess was created (first saved, or rotated) and last
// saved, to the second, as read from Redis or recorded by Save and Rotate.
// Both are zero for a session never saved. Only Save records activity: to
// make a session that is only read slide, save it when its last save is old
// enough.
func (s *RedisStore) Activity(sess *sessions.Session) (created, saved time.Time) {
	st, _ := s.state.get(sess)
	return st.times.created, st.times.saved
}

// cookieName returns the name of the cookie of the session called name.
func (s *RedisStore) cookieName(name string) string {
	return s.prefix + name
}

// dataKey returns the Redis key of the session with ID id.
func (s *RedisStore) dataKey(id string) string {
	return s.keyPrefix + "s:" + id
}

// call runs op, one Redis round trip, under a context that ends after
// timeout (a store's or cache's OpTimeout), and returns when op does or when that context ends, whichever
// comes first: go-redis applies context deadlines to socket reads only when
// its client has ContextTimeoutEnabled, and otherwise a hung server would
// hold op for the client's ReadTimeout, times its retries. An op left behind
// finishes within the client's own timeouts and its result is dropped.
// Errors other than redis.Nil are wrapped in ErrUnavailable, with what.
func call[T any](parent context.Context, timeout time.Duration, what string, op func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := op(ctx)
		done <- result{v, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		res.err = ctx.Err()
	}
	if res.err == nil || errors.Is(res.err, redis.Nil) {
		return res.v, res.err
	}
	if parent.Err() == nil && errors.Is(res.err, context.DeadlineExceeded) {
		res.err = fmt.Errorf("no answer within OpTimeout (%v): %w", timeout, res.err)
	}
	return res.v, fmt.Errorf("%w: %s: %w", ErrUnavailable, what, res.err)
}
