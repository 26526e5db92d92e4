package client

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Refresh redeems refreshToken for new tokens (RFC 6749 §6), sending opts
// (e.g. Resource, or Param("scope", …) to narrow the scope). When the
// response carries no refresh token, the returned Token keeps
// refreshToken. The call is bounded by ctx and the HTTP client's timeout.
//
// An error answer is a *TokenError; errors.Is(err, ErrInvalidGrant) means
// the grant is over (expired, revoked, or a rotated token presented again)
// and the user must log in again.
func (c *Client) Refresh(ctx context.Context, refreshToken string, opts ...TokenOption) (*Token, error) {
	if refreshToken == "" {
		return nil, wrap("refresh", ErrNoRefreshToken)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	tok, err := c.token(ctx, form, opts)
	if err != nil {
		return nil, wrap("refresh", err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = refreshToken
	}
	return tok, nil
}

// Defaults of the TokenSource options EarlyRefresh and RefreshTimeout.
const (
	DefaultEarlyRefresh   = 30 * time.Second
	DefaultRefreshTimeout = 30 * time.Second
)

// TokenSourceOption configures a TokenSource. The type is sealed.
type TokenSourceOption interface{ setTokenSource(*tokenSourceConfig) }

type tokenSourceConfig struct {
	early    time.Duration
	timeout  time.Duration
	onRotate func(ctx context.Context, prev, next *Token) error
	opts     []TokenOption
}

type tokenSourceFunc func(*tokenSourceConfig)

func (f tokenSourceFunc) setTokenSource(c *tokenSourceConfig) { f(c) }

// EarlyRefresh sets how long before its expiry a token is refreshed, so
// that it does not expire in flight. Default DefaultEarlyRefresh (30 s);
// for a token whose expires_in is known, at most half its lifetime, so that
// short-lived tokens are not refreshed on every call.
func EarlyRefresh(d time.Duration) TokenSourceOption {
	return tokenSourceFunc(func(c *tokenSourceConfig) { c.early = max(d, 0) })
}

// RefreshTimeout bounds each refresh (or client-credentials request of a
// ClientCredentialsSource), hook included. A refresh runs on behalf of
// every waiting caller, so it is not cancelled with the context of
// the caller that started it; this timeout ends it instead. Default
// DefaultRefreshTimeout (30 s); the HTTP client's timeout applies too.
func RefreshTimeout(d time.Duration) TokenSourceOption {
	return tokenSourceFunc(func(c *tokenSourceConfig) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// OnRotate sets a hook called once after each successful refresh with the
// previous and the new token, so that the new one (a new access token and,
// when the server rotates them, a new refresh token) can be saved: a
// rotated refresh token that is lost cannot be used again, and presenting
// the old one revokes the grant. The context is the refresh's (see
// RefreshTimeout), carrying the values of the caller that started it.
//
// If the hook fails, the TokenSource still uses the new token, Token
// returns the hook's error, and the next call to Token calls the hook again
// before returning a token. For a ClientCredentialsSource, prev is nil for
// the first token.
func OnRotate(hook func(ctx context.Context, prev, next *Token) error) TokenSourceOption {
	return tokenSourceFunc(func(c *tokenSourceConfig) { c.onRotate = hook })
}

// RefreshWith sets the options of every refresh request, e.g. Resource,
// or of every client-credentials request of a ClientCredentialsSource.
func RefreshWith(opts ...TokenOption) TokenSourceOption {
	return tokenSourceFunc(func(c *tokenSourceConfig) { c.opts = append(c.opts, opts...) })
}

// TokenSource returns a cached token until it is about to expire, then
// renews it: with its refresh token (Client.TokenSource) or with a new
// client-credentials request (Client.ClientCredentialsSource). It is safe
// for concurrent use: any number of concurrent callers share one renewal.
type TokenSource struct {
	c     *Client
	cfg   tokenSourceConfig
	fetch func(ctx context.Context, cur *Token) (*Token, error)
	group singleflight.Group

	mu      sync.Mutex
	tok     *Token
	unsaved bool   // the OnRotate hook has not saved tok yet
	prev    *Token // the token tok replaced, for the hook
}

// TokenSource returns a TokenSource that starts with tok (which may be nil
// or expired, and is never modified) and renews it with its refresh token.
// The tokens it returns are shared: callers must not modify them.
func (c *Client) TokenSource(tok *Token, opts ...TokenSourceOption) *TokenSource {
	s := c.newTokenSource(tok, opts)
	s.fetch = s.refreshGrant
	return s
}

// newTokenSource returns a TokenSource without its fetch step.
func (c *Client) newTokenSource(tok *Token, opts []TokenSourceOption) *TokenSource {
	s := &TokenSource{c: c, tok: tok, cfg: tokenSourceConfig{early: DefaultEarlyRefresh, timeout: DefaultRefreshTimeout}}
	for _, o := range opts {
		o.setTokenSource(&s.cfg)
	}
	return s
}

// Token returns the current token if it is valid for longer than
// EarlyRefresh, by the client's clock. Otherwise it renews the token once
// for all concurrent callers and returns the new one. A caller whose ctx
// ends stops waiting (with ctx's error) without cancelling the renewal for
// the others.
//
// When a renewal fails, the current token is kept. If the failure is not
// invalid_grant and the current token has not expired yet (it was only
// within EarlyRefresh), Token returns it and the next call tries again;
// otherwise it returns the error: for a refreshing source,
// errors.Is(err, ErrInvalidGrant) or ErrNoRefreshToken means the user
// must log in again.
func (s *TokenSource) Token(ctx context.Context) (*Token, error) {
	s.mu.Lock()
	tok, unsaved := s.tok, s.unsaved
	s.mu.Unlock()
	if !unsaved && s.fresh(tok) {
		return tok, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, wrap("token refresh", err)
	}
	ch := s.group.DoChan("refresh", func() (any, error) { return s.renew(ctx) })
	select {
	case r := <-ch:
		tok, _ := r.Val.(*Token)
		return tok, r.Err
	case <-ctx.Done():
		return nil, wrap("token refresh", ctx.Err())
	}
}

// renew runs once for all waiting callers, detached from the cancellation
// of the caller that started it and bounded by the timeout.
func (s *TokenSource) renew(caller context.Context) (*Token, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(caller), s.cfg.timeout)
	defer cancel()
	s.mu.Lock()
	cur, unsaved, prev := s.tok, s.unsaved, s.prev
	s.mu.Unlock()
	if unsaved {
		if err := s.save(ctx, prev, cur); err != nil {
			return nil, err
		}
	}
	if s.fresh(cur) {
		return cur, nil // renewed by the previous flight
	}
	next, err := s.fetch(ctx, cur)
	if err != nil {
		return s.failed(ctx, cur, err)
	}
	s.mu.Lock()
	s.tok, s.unsaved, s.prev = next, true, cur
	s.mu.Unlock()
	s.c.log.DebugContext(ctx, "client: token refreshed", "expiry", next.Expiry)
	if err := s.save(ctx, cur, next); err != nil {
		return nil, err
	}
	return next, nil
}

// refreshGrant is the fetch step of Client.TokenSource: it redeems cur's
// refresh token and keeps cur's ID token when the response has none.
func (s *TokenSource) refreshGrant(ctx context.Context, cur *Token) (*Token, error) {
	if cur == nil || cur.RefreshToken == "" {
		return nil, wrap("refresh", ErrNoRefreshToken)
	}
	next, err := s.c.Refresh(ctx, cur.RefreshToken, s.cfg.opts...)
	if err != nil {
		return nil, err
	}
	if next.IDToken == "" {
		next.IDToken = cur.IDToken
	}
	return next, nil
}

// failed decides what a failed renewal returns: the current token while it
// is still unexpired and the grant is not over, else the error.
func (s *TokenSource) failed(ctx context.Context, cur *Token, err error) (*Token, error) {
	if !errors.Is(err, ErrInvalidGrant) && !errors.Is(err, ErrNoRefreshToken) && s.unexpired(cur) {
		s.c.log.WarnContext(ctx, "client: early token refresh failed; using the current token", "err", err, "expiry", cur.Expiry)
		return cur, nil
	}
	s.c.log.DebugContext(ctx, "client: token refresh failed", "err", err)
	return nil, err
}

// save calls the OnRotate hook for the refresh from prev to next.
func (s *TokenSource) save(ctx context.Context, prev, next *Token) error {
	if s.cfg.onRotate != nil {
		if err := s.cfg.onRotate(ctx, prev, next); err != nil {
			s.c.log.ErrorContext(ctx, "client: OnRotate failed", "err", err)
			return wrap("saving refreshed token", err)
		}
	}
	s.mu.Lock()
	if s.tok == next {
		s.unsaved, s.prev = false, nil
	}
	s.mu.Unlock()
	return nil
}

// fresh reports whether tok is valid for longer than the early-refresh
// margin.
func (s *TokenSource) fresh(tok *Token) bool {
	if tok == nil || tok.AccessToken == "" {
		return false
	}
	if tok.Expiry.IsZero() {
		return true
	}
	early := s.cfg.early
	if tok.ExpiresIn > 0 {
		early = min(early, time.Duration(tok.ExpiresIn)*time.Second/2)
	}
	return s.c.now().Add(early).Before(tok.Expiry)
}

// unexpired reports whether tok can still be used, margin or not.
func (s *TokenSource) unexpired(tok *Token) bool {
	return tok != nil && tok.AccessToken != "" && (tok.Expiry.IsZero() || s.c.now().Before(tok.Expiry))
}
