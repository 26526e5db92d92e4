package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Errors of the device authorization grant (RFC 8628).
var (
	// ErrAccessDenied: the user declined the device authorization request
	// (access_denied). Do not poll again; start over if the user wants.
	ErrAccessDenied = errors.New("client: access denied")
	// ErrDeviceExpired: the device code expired before the user approved
	// it (expired_token, or DeviceAuth.Expiry passed). Start over with a
	// new DeviceAuth.
	ErrDeviceExpired = errors.New("client: device code expired")
)

// deviceGrantType is the grant_type of device access token requests.
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// Polling bounds of DeviceToken.
const (
	// DefaultDeviceInterval is the polling interval when the server gives
	// none (RFC 8628 §3.2).
	DefaultDeviceInterval = 5 * time.Second
	// MaxDeviceLifetime caps the lifetime of a device code, whatever the
	// server's expires_in says, so that polling always ends.
	MaxDeviceLifetime = time.Hour
	// maxDeviceRetries is how many network errors or 5xx answers in a row
	// DeviceToken retries, each after a longer wait.
	maxDeviceRetries = 5
	// maxDeviceBackoff caps the wait after a network error.
	maxDeviceBackoff = time.Minute
)

// slowDownStep is how much a slow_down answer adds to the polling interval
// (RFC 8628 §3.5). Tests shrink it.
var slowDownStep = 5 * time.Second

// DeviceAuth is a device authorization response (RFC 8628 §3.2): show the
// user UserCode and VerificationURI (or VerificationURIComplete, e.g. as a
// QR code), then call DeviceToken with it. DeviceCode is a secret of the
// client: do not show it. DeviceToken only reads a DeviceAuth, so several
// goroutines may share one as long as none modifies it.
type DeviceAuth struct {
	// DeviceCode identifies the request at the token endpoint.
	DeviceCode string
	// UserCode is what the user enters at VerificationURI.
	UserCode string
	// VerificationURI is where the user goes to enter UserCode. The
	// client does not check it; show it as text, do not follow it.
	VerificationURI string
	// VerificationURIComplete, if not empty, is VerificationURI with the
	// user code included, so that the user need not type it.
	VerificationURIComplete string
	// Expiry is when the device code expires, by Config.Now: expires_in
	// after the response, capped at MaxDeviceLifetime.
	Expiry time.Time
	// Interval is the time to wait between polls: the server's interval,
	// or DefaultDeviceInterval. A test may lower it.
	Interval time.Duration
}

// DeviceAuth starts the device authorization grant (RFC 8628 §3.1): it
// posts the request to Endpoint.DeviceAuthURL, authenticated per
// Config.AuthMethod (a public client sends its client_id). The scope is
// Config.Scopes unless the Scopes option replaces it; Resource and Param
// add parameters. RedirectURL has no meaning here and is refused. The
// call is bounded by ctx and the HTTP client's timeout.
//
// A response without device_code, user_code, verification_uri (or the
// verification_url some servers send instead) or expires_in fails with
// ErrMalformedResponse; an error answer is a *TokenError.
func (c *Client) DeviceAuth(ctx context.Context, opts ...AuthOption) (*DeviceAuth, error) {
	if c.cfg.Endpoint.DeviceAuthURL == "" {
		return nil, errors.New("client: Endpoint.DeviceAuthURL is not configured")
	}
	p := authParams{params: params{v: url.Values{}}, scopes: c.cfg.Scopes}
	for _, o := range opts {
		o.setAuth(&p)
	}
	switch {
	case p.err != nil:
		return nil, p.err
	case p.redirectURL != "":
		return nil, errors.New("client: the device grant has no redirect URL")
	}
	if len(p.scopes) > 0 {
		p.v.Set("scope", strings.Join(p.scopes, " "))
	}
	_, body, err := c.post(ctx, c.cfg.Endpoint.DeviceAuthURL, p.v)
	if err != nil {
		return nil, wrap("device authorization", err)
	}
	da, err := parseDeviceAuth(body, c.now())
	if err != nil {
		return nil, wrap("device authorization", err)
	}
	return da, nil
}

// parseDeviceAuth reads a device authorization response.
func parseDeviceAuth(body []byte, now time.Time) (*DeviceAuth, error) {
	var raw struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURL         string `json:"verification_url"`
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               any    `json:"expires_in"`
		Interval                any    `json:"interval"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("%w: device authorization response: %v", ErrMalformedResponse, err)
	}
	if raw.VerificationURI == "" {
		raw.VerificationURI = raw.VerificationURL
	}
	switch {
	case raw.DeviceCode == "":
		return nil, fmt.Errorf("%w: no device_code", ErrMalformedResponse)
	case raw.UserCode == "":
		return nil, fmt.Errorf("%w: no user_code", ErrMalformedResponse)
	case raw.VerificationURI == "":
		return nil, fmt.Errorf("%w: no verification_uri", ErrMalformedResponse)
	}
	life, err := expiresIn(raw.ExpiresIn)
	if err != nil {
		return nil, err
	}
	if life == 0 {
		return nil, fmt.Errorf("%w: no expires_in", ErrMalformedResponse)
	}
	interval, err := expiresIn(raw.Interval) // same syntax: seconds
	if err != nil {
		return nil, fmt.Errorf("%w: bad interval", ErrMalformedResponse)
	}
	da := &DeviceAuth{
		DeviceCode:              raw.DeviceCode,
		UserCode:                raw.UserCode,
		VerificationURI:         raw.VerificationURI,
		VerificationURIComplete: raw.VerificationURIComplete,
		Expiry:                  now.Add(min(time.Duration(life)*time.Second, MaxDeviceLifetime)),
		Interval:                time.Duration(interval) * time.Second,
	}
	if da.Interval <= 0 || da.Interval > MaxDeviceLifetime {
		da.Interval = DefaultDeviceInterval
	}
	return da, nil
}

// DeviceToken polls the token endpoint until the user has approved or
// denied da (RFC 8628 §3.4, §3.5), sending opts (e.g. Resource) with each
// poll. It waits da.Interval before each poll; authorization_pending
// polls again, slow_down adds 5 seconds to the interval of this and later
// polls, and network errors or 5xx answers are retried a few times after
// ever longer waits. It does not modify da.
//
// It ends with the tokens (the ID token, if any, unverified), or with
// ErrAccessDenied when the user declined, ErrDeviceExpired when the
// server says expired_token or da.Expiry passes (polling never outlives
// it), ctx's error when ctx ends first, or any other error answer as a
// *TokenError.
func (c *Client) DeviceToken(ctx context.Context, da *DeviceAuth, opts ...TokenOption) (*Token, error) {
	if da == nil || da.DeviceCode == "" {
		return nil, errors.New("client: device token: no device code")
	}
	// poll ends at expiry in real time, whatever Config.Now says; at once
	// when the code has expired by the client's clock.
	poll, cancel := context.WithTimeout(ctx, da.Expiry.Sub(c.now()))
	defer cancel()
	interval := da.Interval
	if interval <= 0 {
		interval = DefaultDeviceInterval
	}
	form := url.Values{"grant_type": {deviceGrantType}, "device_code": {da.DeviceCode}}
	tok, err := c.pollDevice(ctx, poll, form, interval, opts)
	if err != nil {
		return nil, wrap("device token", err)
	}
	return tok, nil
}

// pollDevice polls until an answer ends the loop. ctx is the caller's;
// poll also ends at the device code's expiry. Each turn waits at least
// the interval and poll ends at expiry, so the loop is bounded in time and
// count.
func (c *Client) pollDevice(ctx, poll context.Context, form url.Values, interval time.Duration, opts []TokenOption) (*Token, error) {
	wait, failures := interval, 0
	for {
		if err := sleep(ctx, poll, wait); err != nil {
			return nil, err
		}
		tok, err := c.token(poll, form, opts)
		if err == nil {
			return tok, nil
		}
		if stop := stopReason(ctx, poll); stop != nil {
			return nil, stop
		}
		var te *TokenError
		if !errors.As(err, &te) && !transient(err) {
			return nil, err
		}
		switch {
		case te != nil && te.Code == "authorization_pending":
			wait, failures = interval, 0
		case te != nil && te.Code == "slow_down":
			interval += slowDownStep
			wait, failures = interval, 0
		case te != nil && te.Code == "access_denied":
			return nil, &grantEnded{ErrAccessDenied, err}
		case te != nil && te.Code == "expired_token":
			return nil, &grantEnded{ErrDeviceExpired, err}
		case retryable(te) && failures < maxDeviceRetries:
			failures++
			wait = min(min(interval, maxDeviceBackoff)<<failures, maxDeviceBackoff)
			c.log.DebugContext(ctx, "client: device token poll failed; retrying", "err", err, "wait", wait)
		default:
			return nil, err
		}
	}
}

// sleep waits d, or less when ctx or poll ends first.
func sleep(ctx, poll context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-poll.Done():
		return stopReason(ctx, poll)
	}
}

// stopReason says why polling must stop: the caller's context ended, or
// the device code expired. Nil while neither happened.
func stopReason(ctx, poll context.Context) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case poll.Err() != nil:
		return ErrDeviceExpired
	}
	return nil
}

// retryable reports whether a failed poll is worth retrying: no answer at
// all (te is nil), a server error, or 429 Too Many Requests.
func retryable(te *TokenError) bool {
	return te == nil || te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests
}

// transient reports whether err is a failure to reach the server, as
// opposed to an answer from it or a local mistake.
func transient(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

// grantEnded wraps both a sentinel and the *TokenError that meant it, so
// that errors.Is(err, ErrAccessDenied) and errors.As(err, &tokenErr) both
// work.
type grantEnded struct {
	sentinel error
	err      error
}

func (e *grantEnded) Error() string {
	return e.sentinel.Error() + ": " + strings.TrimPrefix(e.err.Error(), "client: ")
}

func (e *grantEnded) Unwrap() []error { return []error{e.sentinel, e.err} }
