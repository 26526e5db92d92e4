package rp

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"golang.org/x/sync/singleflight"

	"github.com/keyway-go/keyway/client"
	"github.com/keyway-go/keyway/session"
)

// earlyRefresh is how long before expiry an access token is refreshed.
const earlyRefresh = 30 * time.Second

// Bounds of the table of recent refreshes.
const (
	rotationMemory  = 2 * time.Minute
	rotationEntries = 10000
)

// refresher makes one refresh per refresh token in this process. Requests
// of one browser session race: each carries the session as it was, and all
// but the first would present a refresh token the provider has already
// rotated away, which a provider with reuse detection answers by revoking
// the whole grant. So a refresh's result is kept for a short while under
// the old refresh token and handed to the late requests while its access
// token is fresh; after that, they refresh from the token it rotated to.
type refresher struct {
	group singleflight.Group

	mu      sync.Mutex
	recent  map[[32]byte]*list.Element
	order   *list.List         // of *rotation, oldest first
	flights map[string]*flight // refreshes under a store's lock, by session ID
}

type rotation struct {
	key  [32]byte
	tok  *client.Token
	when time.Time
}

func newRefresher() *refresher {
	return &refresher{recent: make(map[[32]byte]*list.Element), order: list.New(), flights: make(map[string]*flight)}
}

// refresh returns fresh tokens for rt, refreshing at most once.
func (f *refresher) refresh(ctx context.Context, rp *RP, rt string) (*client.Token, error) {
	key := sha256.Sum256([]byte(rt))
	if tok := f.lookup(key, rp.cfg.Now()); tok != nil && rp.fresh(tok.AccessToken, tok.Expiry, tok.ExpiresIn) {
		return tok, nil
	}
	ch := f.group.DoChan(string(key[:]), func() (any, error) {
		if tok := f.lookup(key, rp.cfg.Now()); tok != nil {
			switch {
			case rp.fresh(tok.AccessToken, tok.Expiry, tok.ExpiresIn):
				return tok, nil
			case tok.RefreshToken != rt:
				// rt is spent and the access token it got has expired
				// since: go on from the refresh token it rotated to.
				return f.refresh(context.WithoutCancel(ctx), rp, tok.RefreshToken)
			}
		}
		// The refresh serves every waiter: one caller giving up must not
		// cancel it. It is bounded by the HTTP client's timeout.
		tok, err := rp.client.Refresh(context.WithoutCancel(ctx), rt)
		rp.cfg.Hooks.refreshed(ctx, err)
		if err != nil {
			return nil, err
		}
		f.remember(key, tok, rp.cfg.Now())
		return tok, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*client.Token), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *refresher) lookup(key [32]byte, now time.Time) *client.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.recent[key]; ok {
		if r := e.Value.(*rotation); now.Sub(r.when) < rotationMemory {
			return r.tok
		}
	}
	return nil
}

func (f *refresher) remember(key [32]byte, tok *client.Token, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.order.Len() > 0 {
		oldest := f.order.Front().Value.(*rotation)
		if f.order.Len() < rotationEntries && now.Sub(oldest.when) < rotationMemory {
			break
		}
		delete(f.recent, oldest.key)
		f.order.Remove(f.order.Front())
	}
	f.recent[key] = f.order.PushBack(&rotation{key: key, tok: tok, when: now})
}

// flight is a refresh under a store's lock, led by one request of this
// process; the session's other requests here wait for its outcome.
type flight struct {
	done        chan struct{} // closed when the outcome is set
	accessToken string
	err         error
	abandoned   bool // the leading request ended first: another may lead
}

// board returns the flight of session id, and whether the caller leads it
// (and must land it).
func (f *refresher) board(id string) (fl *flight, lead bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.flights[id]; ok {
		return fl, false
	}
	fl = &flight{done: make(chan struct{})}
	f.flights[id] = fl
	return fl, true
}

// land sets the outcome of the flight of session id and ends it.
func (f *refresher) land(id string, fl *flight, accessToken string, err error, abandoned bool) {
	f.mu.Lock()
	delete(f.flights, id)
	f.mu.Unlock()
	fl.accessToken, fl.err, fl.abandoned = accessToken, err, abandoned
	close(fl.done)
}

// AccessToken returns a valid access token for the logged-in user of r,
// refreshing it first when it expires within 30 seconds, and saving the
// new tokens into the session through w. Call it before writing the
// response. When the provider refuses the refresh token the session is
// ended and the error matches ErrLoginRequired. When the session could
// not be read the error matches ErrSessionUnavailable (and the store's
// error, session.ErrUnavailable for Redis): the user may still be logged
// in.
//
// Concurrent requests of one session refresh once: in this process they
// wait for one refresh and share its tokens. When Config.Sessions can
// also lock sessions across replicas (session.RedisStore), the refresh
// runs under that lock: the request takes it (waiting at most 20 seconds,
// or until r's context ends), reads the session again, and if another
// replica has refreshed meanwhile uses its tokens and saves nothing;
// otherwise it refreshes, saves the rotated tokens and unlocks. Once it
// holds the lock, the end of r's context does not stop that work (bounded
// at 15 seconds, within the lock's 20), so rotated tokens are not lost. A
// refresh token is thus presented once across replicas, and never again
// after the provider rotated it away (which a provider with reuse
// detection would answer by revoking the grant). Without the lock there
// is no refresh: the error wraps session.ErrLocked when the wait ended
// first, or ErrSessionUnavailable and session.ErrUnavailable when Redis
// failed.
//
// Not checked: a refresh whose save fails (Redis went down just then)
// leaves the old refresh token in the store. This process remembers the
// rotation for two minutes and presents the new token; after that, or on
// another replica, the next refresh presents the spent one and a provider
// with reuse detection ends the grant (login required).
func (rp *RP) AccessToken(w http.ResponseWriter, r *http.Request) (string, error) {
	s, d, err := rp.loadSession(r)
	switch {
	case err != nil:
		return "", err
	case d == nil:
		return "", ErrLoginRequired
	case rp.fresh(d.AccessToken, d.Expiry, d.Lifetime):
		return d.AccessToken, nil
	case d.RefreshToken == "":
		return "", fmt.Errorf("%w: the access token expired and there is no refresh token", ErrLoginRequired)
	}
	if store, ok := rp.cfg.Sessions.(refreshLocker); ok {
		return rp.sharedRefresh(w, r, store, s, d)
	}
	tok, err := rp.refresh.refresh(r.Context(), rp, d.RefreshToken)
	if err != nil {
		if errors.Is(err, client.ErrInvalidGrant) {
			_ = deleteSession(w, r, rp.cfg.Sessions, s)
			return "", fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
		return "", err
	}
	if err := rp.applyRefresh(r.Context(), d, tok); err != nil {
		_ = deleteSession(w, r, rp.cfg.Sessions, s)
		return "", fmt.Errorf("%w: %w", ErrLoginRequired, err)
	}
	if err := d.encode(s); err == nil {
		err = s.Save(r, w)
		if err != nil {
			rp.log.Warn("rp: save refreshed session", "err", err)
		}
	}
	return d.AccessToken, nil
}

// Timings of a refresh under a store's lock.
const (
	// refreshLockTTL is how long the lock lasts if its holder never
	// releases it (a crashed replica).
	refreshLockTTL = 20 * time.Second
	// refreshWork bounds the holder's work (reload, refresh, ID token
	// check, save) well within refreshLockTTL, so that the lock cannot
	// expire, and another replica present the same refresh token, while
	// the holder still works.
	refreshWork = 15 * time.Second
	// refreshLockWait bounds a request's wait for the lock; by then a
	// lock whose holder died has expired.
	refreshLockWait = refreshLockTTL
)

// refreshLocker is a session store that replicas share and that can lock
// a session for all of them and read it again, such as
// session.RedisStore (see its Lock). AccessToken refreshes under the lock.
type refreshLocker interface {
	Lock(ctx context.Context, s *sessions.Session, ttl time.Duration) (unlock func(), err error)
	Reload(ctx context.Context, s *sessions.Session) error
}

// sharedRefresh returns a fresh access token for the session s, whose data
// d holds an expired one, refreshing under store's lock (see AccessToken).
// Requests of this process for one session share one flight: one leads,
// the others wait for its outcome, or take over when the leader's request
// ended before it.
func (rp *RP) sharedRefresh(w http.ResponseWriter, r *http.Request, store refreshLocker, s *sessions.Session, d *sessionData) (string, error) {
	// The tokens this process got or saw for d's refresh token, saved
	// under the lock already.
	if tok := rp.refresh.lookup(sha256.Sum256([]byte(d.RefreshToken)), rp.cfg.Now()); tok != nil && rp.fresh(tok.AccessToken, tok.Expiry, tok.ExpiresIn) {
		return tok.AccessToken, nil
	}
	ctx := r.Context()
	for {
		fl, lead := rp.refresh.board(s.ID)
		if lead {
			return rp.leadRefresh(w, r, store, s, d, fl)
		}
		select {
		case <-fl.done:
		case <-ctx.Done():
			return "", fmt.Errorf("rp: waiting for a refresh: %w", ctx.Err())
		}
		if !fl.abandoned || ctx.Err() != nil {
			return fl.accessToken, fl.err
		}
	}
}

// leadRefresh runs lockedRefresh for the requests on flight fl.
func (rp *RP) leadRefresh(w http.ResponseWriter, r *http.Request, store refreshLocker, s *sessions.Session, d *sessionData, fl *flight) (at string, err error) {
	defer func() {
		// Without an outcome (a panic), or with a failure that may come
		// from r's end, the waiters still there try again.
		abandoned := (at == "" && err == nil) || (err != nil && r.Context().Err() != nil)
		rp.refresh.land(s.ID, fl, at, err, abandoned)
	}()
	return rp.lockedRefresh(w, r, store, s, d)
}

// lockedRefresh takes the lock of s, reads s again and refreshes it, unless
// another replica did meanwhile, saving the new tokens before unlocking.
func (rp *RP) lockedRefresh(w http.ResponseWriter, r *http.Request, store refreshLocker, s *sessions.Session, loaded *sessionData) (string, error) {
	wait, cancel := context.WithTimeout(r.Context(), refreshLockWait)
	defer cancel()
	unlock, err := store.Lock(wait, s, refreshLockTTL)
	if errors.Is(err, session.ErrUnavailable) {
		return "", fmt.Errorf("%w: lock the session to refresh it: %w", ErrSessionUnavailable, err)
	}
	if err != nil {
		return "", fmt.Errorf("rp: lock the session to refresh it: %w", err)
	}
	defer unlock()
	// From here r's end does not stop the work, which refreshWork bounds:
	// a refresh the provider may have applied must be saved.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), refreshWork)
	defer cancel()
	r = r.WithContext(ctx)
	if err := store.Reload(ctx, s); err != nil {
		if errors.Is(err, session.ErrUnavailable) {
			return "", fmt.Errorf("%w: %w", ErrSessionUnavailable, err)
		}
		return "", fmt.Errorf("%w: %w", ErrLoginRequired, err) // ended meanwhile
	}
	d, ok := decodeSession(s)
	if !ok || d.Issuer != loaded.Issuer || d.Subject != loaded.Subject {
		return "", fmt.Errorf("%w: the session changed while waiting for its lock", ErrLoginRequired)
	}
	if rp.fresh(d.AccessToken, d.Expiry, d.Lifetime) {
		// Another replica refreshed first. Its tokens also serve this
		// process's requests that loaded the old ones.
		rp.refresh.remember(sha256.Sum256([]byte(loaded.RefreshToken)), d.token(), rp.cfg.Now())
		return d.AccessToken, nil
	}
	tok, err := rp.lockedGrant(ctx, d.RefreshToken)
	if err != nil {
		if errors.Is(err, client.ErrInvalidGrant) {
			_ = deleteSession(w, r, rp.cfg.Sessions, s)
			return "", fmt.Errorf("%w: %w", ErrLoginRequired, err)
		}
		return "", err
	}
	if err := rp.applyRefresh(ctx, d, tok); err != nil {
		_ = deleteSession(w, r, rp.cfg.Sessions, s)
		return "", fmt.Errorf("%w: %w", ErrLoginRequired, err)
	}
	err = d.encode(s)
	if err == nil {
		err = rp.cfg.Sessions.Save(r, w, s)
	}
	if err != nil {
		rp.log.Warn("rp: save refreshed session", "err", err)
	}
	return d.AccessToken, nil
}

// lockedGrant refreshes rt, stored in the session under the lock. If this
// process refreshed rt before and could not save the outcome, rt is spent:
// it uses the tokens it got then, or refreshes the token rt rotated to.
func (rp *RP) lockedGrant(ctx context.Context, rt string) (*client.Token, error) {
	prev := rp.refresh.lookup(sha256.Sum256([]byte(rt)), rp.cfg.Now())
	if prev != nil && rp.fresh(prev.AccessToken, prev.Expiry, prev.ExpiresIn) {
		return prev, nil
	}
	if prev != nil && prev.RefreshToken != "" {
		rt = prev.RefreshToken
	}
	tok, err := rp.client.Refresh(ctx, rt)
	rp.cfg.Hooks.refreshed(ctx, err)
	if err != nil {
		return nil, err
	}
	rp.refresh.remember(sha256.Sum256([]byte(rt)), tok, rp.cfg.Now())
	return tok, nil
}

// fresh reports whether accessToken, expiring at expiry (zero: unknown),
// is good for longer than earlyRefresh, or than half its lifetime (seconds,
// 0: unknown) when that is shorter.
func (rp *RP) fresh(accessToken string, expiry time.Time, lifetime int64) bool {
	if accessToken == "" {
		return false
	}
	if expiry.IsZero() {
		return true
	}
	// A token that lives less than twice earlyRefresh is refreshed at half
	// its life, not on every request.
	window := earlyRefresh
	if half := time.Duration(lifetime) * time.Second / 2; half > 0 && half < window {
		window = half
	}
	return expiry.Sub(rp.cfg.Now()) > window
}

// applyRefresh verifies a refresh's ID token (Core §12.2) and updates d.
func (rp *RP) applyRefresh(ctx context.Context, d *sessionData, tok *client.Token) error {
	if err := checkTokenType(tok); err != nil {
		return err
	}
	if tok.IDToken != "" {
		orig, err := rp.verifier.parseTrusted(d.IDToken)
		if err != nil {
			return err
		}
		idt, err := rp.verifier.verify(ctx, tok.IDToken, expectations{accessToken: tok.AccessToken, refreshOf: orig})
		if err != nil {
			return err
		}
		d.IDToken = idt.raw
		for k, v := range idt.claims.all {
			d.Claims[k] = v
		}
	}
	d.AccessToken = tok.AccessToken
	if tok.RefreshToken != "" {
		d.RefreshToken = tok.RefreshToken
	}
	d.TokenType = tok.TokenType
	d.Expiry = tok.Expiry
	d.Lifetime = tok.ExpiresIn
	return nil
}

// HTTPClient returns a client that calls APIs as the logged-in user of r:
// it attaches the access token, refreshed as AccessToken describes. The
// client is for this request only; make its calls before writing the
// response, so the refreshed session can be saved. It uses the transport of
// Config.HTTPClient (without its response cap) and a 30-second timeout.
func (rp *RP) HTTPClient(w http.ResponseWriter, r *http.Request) *http.Client {
	base := http.DefaultTransport
	if rp.cfg.HTTPClient != nil && rp.cfg.HTTPClient.Transport != nil {
		base = rp.cfg.HTTPClient.Transport
	}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &bearerTransport{
			base:  base,
			token: func() (string, error) { return rp.AccessToken(w, r) },
		},
	}
}

type bearerTransport struct {
	base  http.RoundTripper
	token func() (string, error)
}

func (t *bearerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.token()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r2 := req.Clone(req.Context())
	r2.Header.Set("Authorization", "Bearer "+tok)
	return t.base.RoundTrip(r2)
}
