package middleware

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Defaults of DPoPConfig fields left zero.
const (
	DefaultDPoPMaxAge          = time.Minute
	DefaultDPoPLeeway          = 5 * time.Second
	DefaultDPoPNonceLifetime   = time.Minute
	DefaultDPoPReplayCacheSize = 100_000
)

// Caps on a proof, checked before it is decoded or compared.
const (
	// maxProofBytes caps the DPoP header: a proof is a small header with
	// a public key and five short claims; an RSA-4096 one is under 2 KiB.
	maxProofBytes = 8 << 10
	// maxJTIBytes caps the jti claim of a proof.
	maxJTIBytes = 256
	// minNonceKeyBytes is the shortest DPoPConfig.NonceKey.
	minNonceKeyBytes = 32
)

// defaultDPoPAlgorithms are the proof algorithms accepted when
// DPoPConfig.Algorithms is empty, in the order the challenge lists them.
var defaultDPoPAlgorithms = []string{"ES256", "RS256", "PS256", "EdDSA"}

// DPoPConfig configures how Check and the handlers accept access tokens
// bound to a client's key with DPoP (RFC 9449): "Authorization: DPoP
// <token>" and exactly one "DPoP: <proof>" header, the proof being a JWT
// signed by the key whose thumbprint the token's cnf.jkt names. The zero
// value accepts DPoP-bound tokens beside Bearer ones, with the defaults
// each field states. Verify alone never accepts a bound token: it has no
// proof.
//
// Not checked: that the client was issued the token (the proof only shows
// it holds the key the issuer bound it to), and the proof's own claims
// beyond those of RFC 9449 §4.2.
type DPoPConfig struct {
	// Required refuses tokens presented with the Bearer scheme or in
	// Config.Cookie (ErrSenderConstrained), as RFC 9449 §7.1 allows a
	// resource to: only DPoP-bound tokens with a proof are accepted, and
	// challenges name only DPoP.
	Required bool

	// Algorithms are the accepted proof algorithms, compared exactly,
	// among those Config.Algorithms lists as supported; independent of
	// the token algorithms. Empty means ES256, RS256, PS256 and EdDSA.
	// none and HMAC are refused by New: a proof is signed by a key whose
	// public half it carries. The challenge's algs parameter lists them.
	Algorithms []string

	// MaxAge is how old a proof may be, by its iat. Zero means
	// DefaultDPoPMaxAge (1 min).
	MaxAge time.Duration

	// Leeway is how far in the future a proof's iat may be, for clients
	// whose clock is ahead; a proof is remembered against replay for
	// MaxAge + Leeway after its iat. Zero means DefaultDPoPLeeway (5 s): a
	// proof is made just before its request, and a larger skew is better
	// met with nonces than with a longer replay window. Negative means
	// none.
	Leeway time.Duration

	// URL returns the URL of r that proofs' htu must match, for an API
	// behind a proxy or load balancer that changes the scheme, host or
	// path prefix: e.g. a fixed "https://api.example.com" + r.URL.EscapedPath().
	// Query and fragment are ignored, and both URLs are normalised
	// (RFC 3986 §6.2.2 and §6.2.3) before comparing. nil means "https"
	// when r.TLS is set, else "http", then "://", r.Host and
	// r.URL.EscapedPath(). Do not build it from X-Forwarded-* headers a
	// client can set. Must be safe for concurrent use.
	URL func(r *http.Request) string

	// NonceKey, when set, makes the resource server require nonces it
	// issued (RFC 9449 §9): a proof without a current one is refused with
	// ErrUseDPoPNonce and a fresh nonce in the DPoP-Nonce header, and
	// Handler sends DPoP-Nonce on every response to a DPoP request. Nonces
	// are a MAC of the time window, without state, so replicas sharing the
	// key accept each other's. At least 32 random bytes; keep it secret.
	// nil means no nonces.
	NonceKey []byte

	// NonceLifetime is the window of a nonce: a nonce is accepted during
	// its window and the next, between one and two lifetimes. Zero means
	// DefaultDPoPNonceLifetime (1 min); at least one second.
	NonceLifetime time.Duration

	// ReplayCache records the proofs accepted, by key thumbprint and jti,
	// to refuse one used twice. Replicas must share one (a
	// session.RedisCache); each call is bounded by 2 s. nil means a cache
	// in this process's memory, which does not see other replicas' proofs.
	ReplayCache ReplayCache

	// ReplayCacheSize bounds the in-memory cache used when ReplayCache is
	// nil: at most that many proofs within their replay window. When it is
	// full, DPoP requests are refused (503) rather than proofs forgotten.
	// Zero means DefaultDPoPReplayCacheSize (100,000 proofs, about 16 MB).
	ReplayCacheSize int
}

// dpopPolicy is the DPoPConfig ready to use.
type dpopPolicy struct {
	required      bool
	algorithms    []*algorithm
	algs          string // the algorithm names, space-separated, for challenges
	maxAge        time.Duration
	leeway        time.Duration
	url           func(*http.Request) string
	nonces        *nonceSource // nil: no nonces
	replay        ReplayCache
	replayTimeout time.Duration // 0 for the in-memory cache
}

// setDPoP is the step of New that reads Config.DPoP.
func (v *Validator) setDPoP(cfg *Config) error {
	c := cfg.DPoP
	d := &dpopPolicy{required: c.Required, url: c.URL, maxAge: c.MaxAge, leeway: c.Leeway}
	names := c.Algorithms
	if len(names) == 0 {
		names = defaultDPoPAlgorithms
	}
	for _, name := range names {
		a, err := dpopAlgorithm(name)
		if err != nil {
			return err
		}
		if !slices.Contains(d.algorithms, a) {
			d.algorithms = append(d.algorithms, a)
			d.algs += " " + a.name
		}
	}
	d.algs = d.algs[1:]
	switch {
	case d.maxAge < 0:
		return fmt.Errorf("middleware: negative DPoP.MaxAge %v", d.maxAge)
	case d.maxAge == 0:
		d.maxAge = DefaultDPoPMaxAge
	}
	switch {
	case d.leeway == 0:
		d.leeway = DefaultDPoPLeeway
	case d.leeway < 0:
		d.leeway = 0
	}
	if err := d.setNonces(c); err != nil {
		return err
	}
	d.replay, d.replayTimeout = c.ReplayCache, replayTimeout
	if d.replay == nil {
		size := c.ReplayCacheSize
		if size < 0 {
			return fmt.Errorf("middleware: negative DPoP.ReplayCacheSize %d", size)
		}
		if size == 0 {
			size = DefaultDPoPReplayCacheSize
		}
		d.replay, d.replayTimeout = newMemoryReplayCache(size, v.now), 0
	}
	v.dpop = d
	return nil
}

// dpopAlgorithm returns the proof algorithm called name, refusing none
// and HMAC like Config.Algorithms.
func dpopAlgorithm(name string) (*algorithm, error) {
	a := lookupAlgorithm(name)
	switch {
	case strings.EqualFold(name, "none"):
		return nil, errors.New(`middleware: DPoP algorithm "none" is never accepted`)
	case len(name) > 2 && strings.EqualFold(name[:2], "HS"):
		return nil, fmt.Errorf("middleware: DPoP HMAC algorithm %q refused: a proof is signed with a private key", name)
	case a == nil:
		return nil, fmt.Errorf("middleware: unsupported DPoP algorithm %q (algorithms are case-sensitive)", name)
	}
	return a, nil
}

func (d *dpopPolicy) setNonces(c DPoPConfig) error {
	lifetime := c.NonceLifetime
	switch {
	case lifetime == 0:
		lifetime = DefaultDPoPNonceLifetime
	case lifetime < time.Second:
		return fmt.Errorf("middleware: DPoP.NonceLifetime %v is under a second", lifetime)
	}
	switch {
	case c.NonceKey == nil:
		return nil
	case len(c.NonceKey) < minNonceKeyBytes:
		return fmt.Errorf("middleware: DPoP.NonceKey has %d bytes, at least %d are needed", len(c.NonceKey), minNonceKeyBytes)
	}
	d.nonces = newNonceSource(c.NonceKey, lifetime)
	return nil
}

// Proof errors, made once: fixed texts, nothing from the request.
var (
	errNoProof       = fmt.Errorf("%w: no DPoP header", ErrInvalidDPoPProof)
	errTwoProofs     = fmt.Errorf("%w: more than one DPoP header", ErrInvalidDPoPProof)
	errProofTooLong  = fmt.Errorf("%w: longer than %d bytes", ErrInvalidDPoPProof, maxProofBytes)
	errProofShape    = fmt.Errorf("%w: not a compact JWS of three base64url segments", ErrInvalidDPoPProof)
	errProofJSON     = fmt.Errorf("%w: header or payload is not a JSON object", ErrInvalidDPoPProof)
	errProofType     = fmt.Errorf("%w: typ is not dpop+jwt", ErrInvalidDPoPProof)
	errProofAlg      = fmt.Errorf("%w: alg is not one of DPoP.Algorithms", ErrInvalidDPoPProof)
	errProofCrit     = fmt.Errorf("%w: unsupported critical header parameters", ErrInvalidDPoPProof)
	errProofKeyAlg   = fmt.Errorf("%w: jwk does not fit alg", ErrInvalidDPoPProof)
	errProofJTI      = fmt.Errorf("%w: jti missing, not a string, or longer than %d bytes", ErrInvalidDPoPProof, maxJTIBytes)
	errProofClaims   = fmt.Errorf("%w: htm, htu, ath or nonce missing or not a string", ErrInvalidDPoPProof)
	errProofIAT      = fmt.Errorf("%w: iat missing or not a number", ErrInvalidDPoPProof)
	errProofMethod   = fmt.Errorf("%w: htm is not the request method", ErrInvalidDPoPProof)
	errProofURL      = fmt.Errorf("%w: htu is not the request URL", ErrInvalidDPoPProof)
	errRequestURL    = fmt.Errorf("%w: the request URL cannot be normalised (check DPoP.URL)", ErrInvalidDPoPProof)
	errProofOld      = fmt.Errorf("%w: iat older than MaxAge", ErrInvalidDPoPProof)
	errProofFuture   = fmt.Errorf("%w: iat in the future", ErrInvalidDPoPProof)
	errProofATH      = fmt.Errorf("%w: ath is not the hash of the access token", ErrInvalidDPoPProof)
	errProofSig      = fmt.Errorf("%w: signature does not verify with the jwk", ErrInvalidDPoPProof)
	errReplayed      = fmt.Errorf("%w: proof used before (jti replayed)", ErrInvalidDPoPProof)
	errKeyMismatch   = fmt.Errorf("%w: cnf.jkt is not the thumbprint of the proof's jwk", ErrDPoPBinding)
	errNonceMissing  = fmt.Errorf("%w: the proof has no nonce", ErrUseDPoPNonce)
	errNonceNotValid = fmt.Errorf("%w: the proof's nonce is not current", ErrUseDPoPNonce)
)

// checkDPoP checks a request with the DPoP scheme, whose access token is
// token, in these steps (RFC 9449 §4.3 and §7.1), each failing with the
// error named:
//
//  1. proofHeader: exactly one DPoP header, of at most 8 KiB
//     (ErrInvalidDPoPProof);
//  2. the access token, verified as Verify does (its errors), except that
//     it must have cnf.jkt (ErrDPoPBinding); the verified-token cache
//     answers for a token seen before;
//  3. parseProof: three base64url segments; header typ exactly dpop+jwt,
//     alg in DPoPConfig.Algorithms, no crit, a jwk holding a public key
//     that fits alg (parseProofKey); claims jti (at most 256 bytes), htm,
//     htu, iat and ath present with their JSON types, nonce a string if
//     present (ErrInvalidDPoPProof);
//  4. checkTarget: htm is r.Method exactly, htu is the request URL once
//     both are normalised (ErrInvalidDPoPProof);
//  5. checkIssuedAt: iat not older than MaxAge nor later than Leeway
//     ahead (ErrInvalidDPoPProof);
//  6. checkAccessTokenHash: ath is the base64url SHA-256 of token
//     (ErrInvalidDPoPProof);
//  7. checkBinding: cnf.jkt is the proof key's thumbprint (ErrDPoPBinding);
//  8. checkNonce, with a NonceKey: a current nonce (ErrUseDPoPNonce);
//  9. checkProofSignature: the signature verifies with the jwk
//     (ErrInvalidDPoPProof);
//  10. checkReplay: the proof was not seen before (ErrInvalidDPoPProof),
//     the cache answering (ErrReplayCacheFailed).
//
// Comparisons of ath, jkt and nonce take constant time. The replay check
// is last, so only proofs that passed every other check are recorded.
func (v *Validator) checkDPoP(r *http.Request, token string) (*Claims, error) {
	raw, err := proofHeader(r)
	if err != nil {
		return nil, err
	}
	c, err := v.verifyAs(r.Context(), token, true)
	if err != nil {
		return nil, err
	}
	d := v.dpop
	p, err := d.parseProof(raw)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if err := d.checkTarget(p, r); err != nil {
		return nil, err
	}
	if err := d.checkIssuedAt(p, now); err != nil {
		return nil, err
	}
	if err := checkAccessTokenHash(p, token); err != nil {
		return nil, err
	}
	if err := checkBinding(p, c); err != nil {
		return nil, err
	}
	if err := d.checkNonce(p, now); err != nil {
		return nil, err
	}
	if err := checkProofSignature(p); err != nil {
		return nil, err
	}
	if err := d.checkReplay(r.Context(), p); err != nil {
		return nil, err
	}
	return c, nil
}

// proofHeader returns the one DPoP header of r, of at most maxProofBytes.
func proofHeader(r *http.Request) (string, error) {
	values := r.Header["Dpop"] // the canonical form of "DPoP"
	switch {
	case len(values) == 0:
		return "", errNoProof
	case len(values) > 1:
		return "", errTwoProofs
	case len(values[0]) > maxProofBytes:
		return "", errProofTooLong
	}
	return strings.TrimSpace(values[0]), nil
}

// checkTarget checks that the proof was made for this request's method
// and URL (RFC 9449 §4.3 steps 8 and 9).
func (d *dpopPolicy) checkTarget(p *proof, r *http.Request) error {
	if p.htm != r.Method {
		return errProofMethod
	}
	want, ok := normalizeHTU(d.requestURL(r))
	if !ok {
		return errRequestURL
	}
	if got, ok := normalizeHTU(p.htu); !ok || got != want {
		return errProofURL
	}
	return nil
}

// checkIssuedAt checks that iat is within [now-MaxAge, now+Leeway].
func (d *dpopPolicy) checkIssuedAt(p *proof, now time.Time) error {
	switch {
	case p.iat.Before(now.Add(-d.maxAge)):
		return errProofOld
	case p.iat.After(now.Add(d.leeway)):
		return errProofFuture
	}
	return nil
}

// checkAccessTokenHash checks that the proof was made for this access
// token: ath is the base64url SHA-256 of token (RFC 9449 §4.2).
func checkAccessTokenHash(p *proof, token string) error {
	var buf [2 << 10]byte // most tokens: hashed without a copy on the heap
	sum := sha256.Sum256(append(buf[:0], token...))
	var want [43]byte
	b64.Encode(want[:], sum[:])
	if !constantTimeEqual(p.ath, want[:]) {
		return errProofATH
	}
	return nil
}

// checkBinding checks that the token is bound to the proof's key: its
// cnf.jkt is the key's RFC 7638 thumbprint (RFC 9449 §6.1).
func checkBinding(p *proof, c *Claims) error {
	var want [43]byte
	b64.Encode(want[:], p.key.thumbprint[:])
	if !constantTimeEqual(c.jkt, want[:]) {
		return errKeyMismatch
	}
	return nil
}

// checkNonce checks, when nonces are on, that the proof carries a nonce
// of the current or the previous window.
func (d *dpopPolicy) checkNonce(p *proof, now time.Time) error {
	switch {
	case d.nonces == nil:
		return nil
	case !p.hasNonce:
		return errNonceMissing
	case !d.nonces.valid(p.nonce, now):
		return errNonceNotValid
	}
	return nil
}

// checkProofSignature verifies the proof's signature with its own jwk.
func checkProofSignature(p *proof) error {
	var sigBuf [512]byte // an RSA-4096 signature, or any ECDSA or EdDSA one
	sig, err := decodeInto(sigBuf[:], p.sig)
	if err != nil || !p.alg.verify(p.key.pub, p.input, sig) {
		return errProofSig
	}
	return nil
}

// constantTimeEqual reports whether a and b hold the same bytes, in a
// time that depends on their lengths only.
func constantTimeEqual(a string, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var diff byte
	for i := range b {
		diff |= a[i] ^ b[i]
	}
	return diff == 0
}
