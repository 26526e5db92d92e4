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

	"golang.org/x/sync/singleflight"

	"github.com/keyway-go/keyway/client"
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

	mu     sync.Mutex
	recent map[[32]byte]*list.Element
	order  *list.List // of *rotation, oldest first
}

type rotation struct {
	key  [32]byte
	tok  *client.Token
	when time.Time
}

func newRefresher() *refresher {
	return &refresher{recent: make(map[[32]byte]*list.Element), order: list.New()}
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

// AccessToken returns a valid access token for the logged-in user of r,
// refreshing it first when it expires within 30 seconds, and saving the
// new tokens into the session through w. Call it before writing the
// response. When the provider refuses the refresh token the session is
// ended and the error matches ErrLoginRequired.
func (rp *RP) AccessToken(w http.ResponseWriter, r *http.Request) (string, error) {
	s, d, ok := rp.loadSession(r)
	if !ok {
		return "", ErrLoginRequired
	}
	if rp.fresh(d.AccessToken, d.Expiry, d.Lifetime) {
		return d.AccessToken, nil
	}
	if d.RefreshToken == "" {
		return "", fmt.Errorf("%w: the access token expired and there is no refresh token", ErrLoginRequired)
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
	if tok.TokenType != "" {
		d.TokenType = tok.TokenType
	}
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
