package session

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
)

var (
	// ErrInvalid means the request carried a session cookie the store cannot use:
	// malformed, tampered with, sealed under a key the store no longer holds, moved
	// from another cookie name, or over the size caps. Get and New return it with
	// a new, empty session, which the caller can use as if there had been no cookie.
	ErrInvalid = errors.New("session: invalid session cookie")

	// ErrExpired means the request carried a genuine session cookie past its idle
	// or absolute timeout. Get and New return it with a new, empty session. Save
	// returns it, and writes nothing, for a session past its absolute timeout.
	ErrExpired = errors.New("session: session expired")

	// ErrTooLarge means a session does not fit in CookieConfig.MaxChunks cookies
	// of CookieConfig.ChunkSize bytes. Save returns it and writes nothing. Get and
	// New return an error that is both ErrInvalid and ErrTooLarge when the
	// request's cookies for a session are over those caps, without decoding them.
	ErrTooLarge = errors.New("session: session too large")
)

// Defaults of CookieConfig.
const (
	defaultIdleTimeout     = time.Hour
	defaultAbsoluteTimeout = 24 * time.Hour
	defaultChunkSize       = 3800
	defaultMaxChunks       = 8
	minChunkSize           = 64
)

// CookieConfig configures a CookieStore. The zero value is usable: host-only
// cookies on path "/", SameSite=Lax, not Secure, a one-hour idle timeout and a
// 24-hour absolute timeout, values split over at most 8 cookies of 3800 bytes.
type CookieConfig struct {
	// Path is the cookie path; "" means "/".
	Path string

	// Domain is the cookie domain; "" means a host-only cookie, the safer choice:
	// a Domain cookie is sent to, and can be overwritten from, every subdomain.
	Domain string

	// Secure marks the cookies Secure: set it whenever the application is served
	// over https. The name of a Secure cookie then gets the prefix that makes
	// browsers enforce its attributes: "__Host-" when Path is "/" and Domain is
	// empty (the cookie is bound to this host), "__Secure-" otherwise. Callers
	// keep passing the plain name to Get and New.
	Secure bool

	// SameSite is http.SameSiteLaxMode (the default, used for 0),
	// http.SameSiteStrictMode, or http.SameSiteNoneMode, which requires Secure.
	// http.SameSiteDefaultMode is refused.
	SameSite http.SameSite

	// IdleTimeout ends a session not saved for that long; 0 means one hour.
	// Only Save records activity: to make a session that is only read slide,
	// save it when its last save is old enough (see CookieStore.Activity).
	IdleTimeout time.Duration

	// SkipIdleTimeout turns the idle timeout off. The absolute timeout remains.
	SkipIdleTimeout bool

	// AbsoluteTimeout ends a session that long after it was created (first
	// saved, or rotated), however active; 0 means 24 hours. Cookies are written
	// with a Max-Age of the session's remaining lifetime.
	//
	// Both timeouts are enforced from the times sealed in the cookie, not from
	// Max-Age, to the second; a timeout set must be at least a second.
	AbsoluteTimeout time.Duration

	// ChunkSize is the longest cookie value written, in bytes, from 64 to 4096;
	// 0 means 3800, which keeps a cookie's name, value and attributes under the
	// 4096 bytes browsers store.
	ChunkSize int

	// MaxChunks is the most cookies one session is split over, up to 50; 0
	// means 8. A session needing more cannot be saved (ErrTooLarge).
	MaxChunks int

	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	// Logger, if set, receives a record for each rejected session cookie: Info
	// for an invalid one, Debug for an expired one. Values are never logged.
	// nil means no logging.
	Logger *slog.Logger
}

// CookieStore is a sessions.Store that keeps each session in the browser: its
// ID, its Values (encoded with encoding/gob) and its creation and last-save
// times, sealed with AES-256-GCM under a key derived from the newest secret and
// split over as many cookies as needed.
//
// Sessions time out from the sealed times: after IdleTimeout without a save,
// and AbsoluteTimeout after creation. Save honours only Options.MaxAge < 0
// (delete the session) from a session's Options: the cookie attributes always
// come from the CookieConfig, so a handler cannot weaken them.
//
// Not checked: a cookie is a bearer credential, so a copy of a session's
// cookies stays usable until its timeouts, and an older copy of the same
// session replays its older Values. A server cannot end a cookie session early;
// use a server-side store where that matters.
//
// A CookieStore is safe for concurrent use. A *sessions.Session is not. The
// zero CookieStore is not usable: create one with NewCookieStore.
type CookieStore struct {
	cfg    CookieConfig // with defaults applied
	prefix string       // "__Host-", "__Secure-" or ""
	sealer *sealer
	times  sideTable[times]
}

var _ sessions.Store = (*CookieStore)(nil)

// NewCookieStore returns a store that seals with keys[0] and opens with any of
// keys: to rotate, put a new secret first and drop the oldest once every
// session sealed under it has expired. Each secret must be at least MinKeySize
// random bytes; the store derives its own keys from them and keeps no copy.
func NewCookieStore(keys [][]byte, cfg CookieConfig) (*CookieStore, error) {
	sealer, err := newSealer(keys)
	if err != nil {
		return nil, err
	}
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &CookieStore{cfg: cfg, prefix: namePrefix(cfg), sealer: sealer}, nil
}

func (cfg CookieConfig) withDefaults() (CookieConfig, error) {
	cfg.Path = cmp.Or(cfg.Path, "/")
	cfg.SameSite = cmp.Or(cfg.SameSite, http.SameSiteLaxMode)
	cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, defaultIdleTimeout)
	cfg.AbsoluteTimeout = cmp.Or(cfg.AbsoluteTimeout, defaultAbsoluteTimeout)
	cfg.ChunkSize = cmp.Or(cfg.ChunkSize, defaultChunkSize)
	cfg.MaxChunks = cmp.Or(cfg.MaxChunks, defaultMaxChunks)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, cfg.validate()
}

func (cfg CookieConfig) validate() error {
	switch {
	case !strings.HasPrefix(cfg.Path, "/") || (&http.Cookie{Name: "n", Path: cfg.Path, Domain: cfg.Domain}).Valid() != nil:
		return fmt.Errorf("session: invalid cookie path %q or domain %q", cfg.Path, cfg.Domain)
	case cfg.SameSite == http.SameSiteNoneMode && !cfg.Secure:
		return errors.New("session: SameSite=None requires Secure")
	case cfg.SameSite != http.SameSiteLaxMode && cfg.SameSite != http.SameSiteStrictMode && cfg.SameSite != http.SameSiteNoneMode:
		return fmt.Errorf("session: SameSite must be Lax, Strict or None, not %d", cfg.SameSite)
	case cfg.IdleTimeout < time.Second || cfg.AbsoluteTimeout < time.Second:
		return fmt.Errorf("session: timeouts must be at least a second, not %v and %v", cfg.IdleTimeout, cfg.AbsoluteTimeout)
	case cfg.ChunkSize < minChunkSize || cfg.ChunkSize > maxCookieValue:
		return fmt.Errorf("session: ChunkSize %d is outside [%d, %d]", cfg.ChunkSize, minChunkSize, maxCookieValue)
	case cfg.MaxChunks < 1 || cfg.MaxChunks > maxChunksLimit:
		return fmt.Errorf("session: MaxChunks %d is outside [1, %d]", cfg.MaxChunks, maxChunksLimit)
	}
	return nil
}

// namePrefix returns the cookie name prefix browsers enforce for cfg.
func namePrefix(cfg CookieConfig) string {
	switch {
	case !cfg.Secure:
		return ""
	case cfg.Path == "/" && cfg.Domain == "":
		return "__Host-"
	default:
		return "__Secure-"
	}
}

// Get returns the session called name, decoding it once per request through
// gorilla's registry; see New for what it returns.
func (s *CookieStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New decodes the session called name from r's cookies, without the registry.
// When r carries no valid session it returns a new session (IsNew true, empty
// Values, a fresh random ID), with ErrInvalid or ErrExpired when a cookie was
// there but could not be used. The returned session is never nil.
func (s *CookieStore) New(r *http.Request, name string) (*sessions.Session, error) {
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

// load fills sess from the cookies r carries for it, if any, in named steps:
// join the chunks, decode base64url, open the seal, check the timeouts, decode
// the values. On error sess is unchanged.
func (s *CookieStore) load(r *http.Request, sess *sessions.Session) error {
	name := s.cookieName(sess.Name())
	value, found, err := join(readChunks(r, name), s.cfg.MaxChunks, s.cfg.MaxChunks*s.cfg.ChunkSize)
	if err != nil || !found {
		return err
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	plaintext, err := s.sealer.open(name, sealed)
	if err != nil {
		return err
	}
	p, err := unmarshalPayload(plaintext)
	if err != nil {
		return err
	}
	if err := s.cfg.checkTimeouts(p.times, s.cfg.now(), true); err != nil {
		return err
	}
	values, err := decodeValues(p.values)
	if err != nil {
		return err
	}
	sess.ID, sess.Values, sess.IsNew = p.id, values, false
	s.times.set(sess, p.times)
	return nil
}

// Save writes sess to w: its sealed value in as many cookies as it needs, and
// the deletion of the chunk cookies r carried that the new value no longer
// uses. It records the save as the session's last activity. A session whose
// Options.MaxAge is negative is deleted instead (see Delete).
//
// Save writes nothing when it fails: ErrTooLarge for a session over the chunk
// caps, ErrExpired for a session past its absolute timeout, or an encoding
// error for a value whose type is not registered with gob.Register.
func (s *CookieStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if err := checkName(sess.Name()); err != nil {
		return err
	}
	name := s.cookieName(sess.Name())
	carried := readChunks(r, name)
	if sess.Options != nil && sess.Options.MaxAge < 0 {
		s.times.delete(sess)
		s.expire(w, name, append([]int{0}, carried.stale(1)...))
		return nil
	}
	chunks, t, err := s.seal(name, sess)
	if err != nil {
		return err
	}
	maxAge := int(t.created.Add(s.cfg.AbsoluteTimeout).Sub(t.saved) / time.Second)
	for i, chunk := range chunks {
		http.SetCookie(w, s.cfg.cookie(chunkName(name, i), chunk, maxAge))
	}
	s.expire(w, name, carried.stale(len(chunks)))
	s.times.set(sess, t)
	return nil
}

// seal returns the cookie values of sess, saved now, and its new times.
func (s *CookieStore) seal(name string, sess *sessions.Session) ([]string, times, error) {
	now := s.cfg.now()
	t, ok := s.times.get(sess)
	if !ok {
		t.created = now
	}
	if err := s.cfg.checkTimeouts(t, now, false); err != nil {
		return nil, times{}, err
	}
	t.saved = now
	if sess.ID == "" {
		sess.ID = newID()
	}
	values, err := encodeValues(sess.Values)
	if err != nil {
		return nil, times{}, err
	}
	plaintext, err := payload{id: sess.ID, times: t, values: values}.marshal()
	if err != nil {
		return nil, times{}, err
	}
	value := base64.RawURLEncoding.EncodeToString(s.sealer.seal(name, plaintext))
	chunks, ok := split(value, s.cfg.ChunkSize, s.cfg.MaxChunks)
	if !ok {
		return nil, times{}, fmt.Errorf("%w: sealed value of %d bytes needs more than %d cookies of %d bytes",
			ErrTooLarge, len(value), s.cfg.MaxChunks, s.cfg.ChunkSize)
	}
	return chunks, t, nil
}

// Delete ends sess: it empties its Values, sets its Options.MaxAge to -1 (so
// a later sessions.Save deletes it again rather than restoring it) and expires
// its cookie and every chunk cookie r carries.
func (s *CookieStore) Delete(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options == nil {
		sess.Options = &sessions.Options{}
	}
	sess.Options.MaxAge = -1
	clear(sess.Values)
	return s.Save(r, w, sess)
}

// The helpers below are shared by CookieStore and RedisStore: a RedisStore
// keeps its cookie attributes, timeouts, clock and logger in a CookieConfig too
// (see RedisConfig.cookieConfig).

// options returns the gorilla Options matching the cookies the store writes.
func (cfg CookieConfig) options() sessions.Options {
	return sessions.Options{
		Path:     cfg.Path,
		Domain:   cfg.Domain,
		MaxAge:   int(cfg.AbsoluteTimeout / time.Second),
		Secure:   cfg.Secure,
		HttpOnly: true,
		SameSite: cfg.SameSite,
	}
}

func (cfg CookieConfig) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     cfg.Path,
		Domain:   cfg.Domain,
		MaxAge:   maxAge,
		Secure:   cfg.Secure,
		HttpOnly: true,
		SameSite: cfg.SameSite,
	}
}

// expire deletes the chunks of the cookie called name at the given indexes.
func (s *CookieStore) expire(w http.ResponseWriter, name string, indexes []int) {
	for _, i := range indexes {
		http.SetCookie(w, s.cfg.cookie(chunkName(name, i), "", -1))
	}
}

// cookieName returns the name of the first cookie of the session called name.
func (s *CookieStore) cookieName(name string) string {
	return s.prefix + name
}

// now returns the store's current time to the second, the precision of the
// times sealed in sessions.
func (cfg CookieConfig) now() time.Time {
	return time.Unix(cfg.Now().Unix(), 0)
}

// logRejected logs a session cookie Get or New could not use: Debug for an
// expired one, Warn when Redis could not be asked, Info otherwise.
func (cfg CookieConfig) logRejected(r *http.Request, name string, err error) {
	if cfg.Logger == nil {
		return
	}
	level := slog.LevelInfo
	switch {
	case errors.Is(err, ErrExpired):
		level = slog.LevelDebug
	case errors.Is(err, ErrUnavailable):
		level = slog.LevelWarn
	}
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	cfg.Logger.LogAttrs(ctx, level, "session: cookie rejected",
		slog.String("session", name), slog.String("error", err.Error()))
}

// checkName accepts a session name that is a cookie name without dots (they
// separate chunk numbers) and without a cookie prefix (the store adds it).
func checkName(name string) error {
	if strings.Contains(name, ".") || (&http.Cookie{Name: name}).Valid() != nil {
		return fmt.Errorf("session: invalid session name %q", name)
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "__host-") || strings.HasPrefix(lower, "__secure-") {
		return fmt.Errorf("session: session name %q has a cookie prefix; the store adds it", name)
	}
	return nil
}

// newID returns 32 random bytes in base64url.
func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
