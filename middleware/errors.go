package middleware

import (
	"errors"
	"fmt"
	"strings"
)

// Errors Verify, Check and the handlers fail with, one per decision a caller
// makes. The errors returned wrap one of them, sometimes two (an issuer
// mismatch is ErrInvalidIssuer and ErrInvalidClaims), so test them with
// errors.Is. Error texts may quote values taken from the token, escaped with
// %q; the HTTP responses written by Validator.WriteError never do.
var (
	// ErrNoToken: the request carries no access token: no Authorization
	// header (or one with another scheme than Bearer and DPoP) and no
	// token cookie. WriteError answers 401 with bare challenges.
	ErrNoToken = errors.New("middleware: no access token")

	// ErrInvalidRequest: the request is malformed: more than one
	// Authorization header, an access_token query parameter, or a Bearer
	// or DPoP credential without a token. WriteError answers 400
	// invalid_request.
	ErrInvalidRequest = errors.New("middleware: invalid request")

	// ErrMalformed: the token is not a compact JWS this package reads: too
	// long, a header segment over the cap, not three base64url segments, a
	// header or payload that is not a JSON object, or a header that asks for
	// something unsupported (crit, zip, b64, a nested JWT).
	ErrMalformed = errors.New("middleware: malformed token")

	// ErrInvalidSignature: the signature does not verify, or cannot be
	// trusted: the algorithm is not allowed (none, HMAC, anything outside
	// Config.Algorithms), or the key the kid names is not for that algorithm.
	ErrInvalidSignature = errors.New("middleware: invalid signature")

	// ErrUnknownKey: the issuer's key set has no key with the token's kid,
	// even after the refetch the key-set policy allows, or the key set could
	// not be fetched yet. Retrying later may succeed.
	ErrUnknownKey = errors.New("middleware: unknown signing key")

	// ErrExpired: the token's exp is past, beyond the leeway.
	ErrExpired = errors.New("middleware: token expired")

	// ErrInvalidClaims: a claim breaks a rule: exp missing, nbf or iat in
	// the future beyond the leeway, a claim of the wrong JSON type. The
	// issuer and audience errors below are ErrInvalidClaims too.
	ErrInvalidClaims = errors.New("middleware: invalid claims")

	// ErrInvalidIssuer: iss is missing or is not one of the configured
	// issuers (compared exactly).
	ErrInvalidIssuer = fmt.Errorf("%w: issuer not accepted", ErrInvalidClaims)

	// ErrInvalidAudience: aud is missing or names none of Config.Audiences.
	ErrInvalidAudience = fmt.Errorf("%w: audience not accepted", ErrInvalidClaims)

	// ErrInvalidType: the token is not an access token: its typ header is
	// not at+jwt (RFC 9068), or, with Config.AcceptJWTType, it looks like
	// an ID token.
	ErrInvalidType = errors.New("middleware: not an access token")

	// ErrSenderConstrained: the token is bound to a key or certificate (it
	// has a cnf claim, RFC 7800, e.g. cnf.jkt for DPoP) and was presented as
	// a plain bearer token, to Verify or with the Bearer scheme; or
	// Config.DPoP.Required is set and a token came with the Bearer scheme
	// or in the cookie. The client must present it with the DPoP scheme and
	// a proof. WriteError answers 401 invalid_token.
	ErrSenderConstrained = errors.New("middleware: sender-constrained token presented as a bearer token")

	// ErrInvalidDPoPProof: the request has the DPoP scheme and its DPoP
	// proof (RFC 9449 §4.3) is missing, repeated, malformed, not signed by
	// its jwk, made for another method, URL, time or access token, or
	// replayed. WriteError answers 401 with error="invalid_dpop_proof" in
	// the DPoP challenge.
	ErrInvalidDPoPProof = errors.New("middleware: invalid DPoP proof")

	// ErrUseDPoPNonce: Config.DPoP.NonceKey is set and the DPoP proof has
	// no nonce, or one that is not current (RFC 9449 §9). The client
	// retries with the nonce of the DPoP-Nonce header WriteError sends
	// with its 401 error="use_dpop_nonce".
	ErrUseDPoPNonce = errors.New("middleware: DPoP nonce required")

	// ErrDPoPBinding: a token presented with the DPoP scheme is not bound
	// to the proof's key: it has no cnf.jkt, or its cnf.jkt is not the RFC
	// 7638 thumbprint of the proof's jwk. WriteError answers 401 with
	// error="invalid_token" in the DPoP challenge (RFC 9449 §7.1).
	ErrDPoPBinding = errors.New("middleware: access token not bound to the DPoP proof key")

	// ErrReplayCacheFailed: the DPoP replay cache (Config.DPoP.ReplayCache)
	// failed or timed out, or the default in-memory one is full of
	// unexpired proofs, so a proof cannot be known to be fresh and is
	// refused (fail closed). Retrying later may succeed. WriteError answers
	// 503 temporarily_unavailable, without a challenge: the client's
	// credentials are not at fault.
	ErrReplayCacheFailed = errors.New("middleware: DPoP replay cache unavailable")

	// ErrInsufficientScope: the token is valid but lacks a scope or claim a
	// route requires (RequireScope, RequireClaims). WriteError answers 403
	// insufficient_scope; a *ScopeError carries the scopes needed.
	ErrInsufficientScope = errors.New("middleware: insufficient scope")
)

// ScopeError is the error of a request refused by RequireScope. It wraps
// ErrInsufficientScope; Scopes are all the scopes the route requires, as
// sent in the challenge's scope parameter.
type ScopeError struct {
	Scopes []string
}

// Error names the scopes required.
func (e *ScopeError) Error() string {
	return "middleware: insufficient scope: requires " + strings.Join(e.Scopes, " ")
}

// Unwrap returns ErrInsufficientScope.
func (e *ScopeError) Unwrap() error { return ErrInsufficientScope }

// Request errors, made once: refusing a request allocates nothing.
var (
	errTwoAuthorizations = fmt.Errorf("%w: more than one Authorization header", ErrInvalidRequest)
	errTokenInQuery      = fmt.Errorf("%w: access token in the query string", ErrInvalidRequest)
	errEmptyBearer       = fmt.Errorf("%w: Bearer credential without a token", ErrInvalidRequest)
	errEmptyDPoP         = fmt.Errorf("%w: DPoP credential without a token", ErrInvalidRequest)
	errBearerRefused     = fmt.Errorf("%w: the Bearer scheme is not accepted (DPoP is required)", ErrSenderConstrained)
)
