package rp

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyway-go/keyway/client"
)

// Hooks are functions an RP calls as it works, e.g. to count logins and
// refreshes in metrics. They run synchronously, on the goroutine doing the
// work (a request's, or that of a refresh several requests wait for), so
// they must be quick and safe for concurrent use. ctx is the request's
// context, or the context of the request that started a shared refresh
// (possibly done by then). A nil hook is skipped; the zero Hooks calls
// nothing.
//
// The hooks receive no personal data: no subject, session ID, token or
// claim. The errors they receive may carry provider-supplied text; label
// metrics with the reason, never with an error's text, so that the number
// of label values stays bounded.
type Hooks struct {
	// LoginStarted is called when Login has recorded a login transaction
	// and redirects the browser to the provider.
	LoginStarted func(ctx context.Context)
	// LoginSucceeded is called when Callback has started the new session
	// and redirects the user to return_to.
	LoginSucceeded func(ctx context.Context)
	// LoginFailed is called when Login cannot start a login or Callback
	// refuses one, with the error and its reason, one of the Reason
	// constants (see LoginFailureReason). The same error goes to
	// Config.ErrorPage.
	LoginFailed func(ctx context.Context, reason string, err error)
	// Refreshed is called once for each refresh token grant an RP sends
	// to the provider for a session (concurrent requests of a session
	// share one), with nil when the provider returned new tokens. When
	// the provider refused the refresh token, so that the user must log
	// in again, err matches both ErrLoginRequired and
	// client.ErrInvalidGrant; other errors (network, timeouts, server
	// errors) match neither. An ID token in a granted refresh is checked
	// afterwards for each request that uses it: its refusal ends the
	// session and is not reported here.
	Refreshed func(ctx context.Context, err error)
	// LoggedOut is called when Logout ends the session of a logged-in
	// user (not for a logout request without one).
	LoggedOut func(ctx context.Context)
	// BackchannelLogout is called for every back-channel logout request,
	// with nil when the logout was applied, or the error it was refused
	// with (ErrInvalidLogoutToken for a bad or replayed token).
	BackchannelLogout func(ctx context.Context, err error)
	// FrontchannelLogout is called for every front-channel logout
	// request, with nil when the logout was applied, or the error it was
	// refused with.
	FrontchannelLogout func(ctx context.Context, err error)
}

// Reasons a login fails, as LoginFailureReason and Hooks.LoginFailed give
// them. The list is fixed, so they are fit for metric labels.
const (
	// ReasonStart: Login could not start the login (the pushed
	// authorization request failed, or the transaction could not be
	// saved).
	ReasonStart = "start"
	// ReasonRequest: the callback request is malformed (wrong method,
	// oversized body, repeated parameters, no code).
	ReasonRequest = "request"
	// ReasonState: the state names no login in progress in this browser
	// (ErrStateMismatch: forged, replayed, expired, another browser's).
	ReasonState = "state"
	// ReasonIssuer: a response or ID token comes from another issuer, or
	// the RFC 9207 iss parameter is missing (ErrIssuerMismatch,
	// client.ErrIssuerMismatch, client.ErrIssuerMissing): a mix-up.
	ReasonIssuer = "issuer"
	// ReasonProviderError: the provider answered with an error (a
	// *client.AuthError such as access_denied or login_required).
	ReasonProviderError = "provider_error"
	// ReasonTokenEndpoint: redeeming the code failed (an error response,
	// a malformed response, a network error or timeout).
	ReasonTokenEndpoint = "token_endpoint"
	// ReasonIDToken: the ID token is missing, or its signature, a claim
	// or the provider's keys failed (ErrInvalidSignature,
	// ErrInvalidIDToken, ErrExpired).
	ReasonIDToken = "id_token"
	// ReasonNonce: the ID token's nonce is not the login's
	// (ErrNonceMismatch).
	ReasonNonce = "nonce"
	// ReasonUserinfo: the userinfo request failed or answered for another
	// subject (ErrUserinfoSubject).
	ReasonUserinfo = "userinfo"
	// ReasonSession: the new session could not be saved.
	ReasonSession = "session"
	// ReasonOther: none of the above.
	ReasonOther = "other"
)

// LoginFailureReason returns the reason, one of the Reason constants, of
// an error that Login or Callback gave Config.ErrorPage, e.g. to choose
// what page to show. Errors that match a sentinel get its reason first
// (ErrStateMismatch is ReasonState wherever it arose); others get the
// reason of the step that failed; errors that did not come from Login or
// Callback get ReasonOther. Nil gets "".
func LoginFailureReason(err error) string {
	if err == nil {
		return ""
	}
	var ae *client.AuthError
	switch {
	case errors.Is(err, ErrStateMismatch):
		return ReasonState
	case errors.Is(err, ErrIssuerMismatch), errors.Is(err, client.ErrIssuerMismatch), errors.Is(err, client.ErrIssuerMissing):
		return ReasonIssuer
	case errors.As(err, &ae):
		return ReasonProviderError
	case errors.Is(err, ErrNonceMismatch):
		return ReasonNonce
	case errors.Is(err, ErrUserinfoSubject):
		return ReasonUserinfo
	case errors.Is(err, ErrInvalidSignature), errors.Is(err, ErrInvalidIDToken), errors.Is(err, ErrExpired):
		return ReasonIDToken
	}
	var se *stepError
	if errors.As(err, &se) {
		return se.reason
	}
	return ReasonOther
}

// stepError marks an error with the reason of the login step that failed.
// It adds nothing to the message.
type stepError struct {
	reason string
	err    error
}

// atStep marks err, if not nil, as failing at the step with reason.
func atStep(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &stepError{reason: reason, err: err}
}

func (e *stepError) Error() string { return e.err.Error() }

func (e *stepError) Unwrap() error { return e.err }

// The methods below call a hook when it is set.

func (h *Hooks) loginStarted(ctx context.Context) {
	if h.LoginStarted != nil {
		h.LoginStarted(ctx)
	}
}

func (h *Hooks) loginSucceeded(ctx context.Context) {
	if h.LoginSucceeded != nil {
		h.LoginSucceeded(ctx)
	}
}

func (h *Hooks) loginFailed(ctx context.Context, err error) {
	if h.LoginFailed != nil {
		h.LoginFailed(ctx, LoginFailureReason(err), err)
	}
}

// refreshed reports the outcome of a refresh token grant; a refused
// refresh token is also reported as ErrLoginRequired.
func (h *Hooks) refreshed(ctx context.Context, err error) {
	if h.Refreshed == nil {
		return
	}
	if errors.Is(err, client.ErrInvalidGrant) {
		err = fmt.Errorf("%w: %w", ErrLoginRequired, err)
	}
	h.Refreshed(ctx, err)
}

func (h *Hooks) loggedOut(ctx context.Context) {
	if h.LoggedOut != nil {
		h.LoggedOut(ctx)
	}
}

func (h *Hooks) backchannelLogout(ctx context.Context, err error) {
	if h.BackchannelLogout != nil {
		h.BackchannelLogout(ctx, err)
	}
}

func (h *Hooks) frontchannelLogout(ctx context.Context, err error) {
	if h.FrontchannelLogout != nil {
		h.FrontchannelLogout(ctx, err)
	}
}
