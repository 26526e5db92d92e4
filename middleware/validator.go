package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of Config fields left zero.
const (
	DefaultLeeway             = 60 * time.Second
	DefaultMinRefreshInterval = time.Minute
	DefaultMaxRefreshInterval = time.Hour
)

// defaultAlgorithms are the algorithms accepted when Config.Algorithms is
// empty.
var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA", "PS256"}

// Config configures a Validator. Issuer (or Issuers) and Audiences are
// required; every other zero field has the default its comment states.
// New copies what it needs: changing a Config after New has no effect.
type Config struct {
	// Issuer is the exact iss value of the accepted tokens, e.g.
	// "https://id.example.com". It must be https, or http on a loopback
	// host. Leave it empty when using Issuers.
	Issuer string
	// JWKSURL is Issuer's key set. Empty means discovery: jwks_uri from
	// {Issuer}/.well-known/openid-configuration, else from the RFC 8414
	// authorization server metadata.
	JWKSURL string
	// Issuers are further accepted issuers, each with its own key set.
	// The token's iss picks the issuer, and only that issuer's keys can
	// verify it.
	Issuers []Issuer

	// Audiences are the accepted aud values; a token is accepted if its
	// aud holds any of them. Required.
	Audiences []string

	// Algorithms are the accepted JWS algorithms, compared exactly (RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA).
	// Empty means RS256, ES256, EdDSA and PS256. none and HMAC (HS256,
	// …) are refused by New: a resource server shares no secret with its
	// issuer.
	Algorithms []string

	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway (60 s); a negative value means none.
	Leeway time.Duration

	// AcceptJWTType also accepts tokens whose typ header is JWT (or
	// absent), for providers that do not issue RFC 9068 at+jwt access
	// tokens. Such a token is still refused (ErrInvalidType) when it looks
	// like an OpenID Connect ID token: it has a nonce, at_hash, c_hash or
	// s_hash claim, or an azp that is also one of its audiences (an ID
	// token's audience is the client it was issued to). Other typ values
	// (logout+jwt, dpop+jwt, …) are always refused.
	AcceptJWTType bool

	// Cookie, when set, is the name of a cookie the token may be sent in
	// when the request has no Authorization header. A cookie is sent by
	// the browser on cross-site requests too: pair it with CSRF
	// protection such as http.CrossOriginProtection.
	Cookie string

	// OptionalPatterns are http.ServeMux patterns of requests that Handler
	// lets through without a token (with no claims in the context). A
	// token that is present is still verified, and refused if bad.
	OptionalPatterns []string

	// DPoP configures the DPoP scheme (RFC 9449): tokens bound to a
	// client's key (cnf.jkt) presented with "Authorization: DPoP" and a
	// proof of possession in the DPoP header. The zero value accepts them
	// beside Bearer tokens, with the defaults DPoPConfig states.
	DPoP DPoPConfig

	// Introspection, when set, accepts opaque access tokens too: a token
	// that is not JWT-shaped (three base64url segments) is checked by
	// RFC 7662 introspection at Issuer's authorization server, which
	// Issuer must then name, instead of being refused with ErrMalformed.
	// JWT-shaped tokens are still verified with the key sets; Issuer's
	// key set is fetched as always, so a server that publishes none makes
	// JWTs fail with ErrUnknownKey and logs failed fetches. nil means
	// opaque tokens are refused.
	Introspection *Introspection

	// ResourceMetadata, when set, is served by MetadataRoute (RFC 9728)
	// and its URL is sent in challenges as resource_metadata.
	ResourceMetadata *ResourceMetadata

	// ErrorHandler writes the response when a request is refused. nil
	// means Validator.WriteError (RFC 6750 challenge and JSON body); a
	// custom handler may call WriteError after logging or counting.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)

	// HTTPClient fetches discovery documents and key sets. nil means a
	// client with a 10 s timeout that follows redirects only to https (or
	// http on loopback). Every fetch is also capped at 10 s and 1 MiB
	// whatever the client does.
	HTTPClient *http.Client

	// MinRefreshInterval and MaxRefreshInterval bound the periodic
	// refresh of a key set, which follows the Cache-Control max-age of
	// its response. MinRefreshInterval is also the unknown-kid budget: at
	// most one refetch for unknown kids per interval and issuer. Zero
	// means DefaultMinRefreshInterval (1 min) and
	// DefaultMaxRefreshInterval (1 h).
	MinRefreshInterval time.Duration
	MaxRefreshInterval time.Duration

	// CacheSize is the number of verified tokens remembered (see the
	// package documentation). Zero means 10,000; negative disables the
	// cache.
	CacheSize int

	// Logger receives key-set events (warnings for failed fetches, debug
	// for skipped keys and refused requests). nil means no logging.
	Logger *slog.Logger

	// Hooks observe the validator, e.g. for metrics.
	Hooks Hooks

	// Now is the clock for exp, nbf, iat and cache lifetimes; nil means
	// time.Now. Key-set fetch scheduling uses the real clock.
	Now func() time.Time
}

// Issuer is one accepted issuer and its key set.
type Issuer struct {
	// URL is the exact iss value, with the same rules as Config.Issuer.
	URL string
	// JWKSURL is the issuer's key set; empty means discovery.
	JWKSURL string
}

// Hooks are functions a Validator calls as it works. They run
// synchronously on the hot path or the fetching goroutine, so they must be
// quick and safe for concurrent use. A nil hook is skipped.
type Hooks struct {
	// Verified is called after every Verify (which Check and the
	// handlers call for each request carrying a token), with whether the
	// verified-token cache answered and the error (nil when accepted).
	Verified func(cacheHit bool, err error)
	// JWKSFetched is called after every key-set fetch (discovery
	// included) with the issuer and the error (nil on success).
	JWKSFetched func(issuer string, err error)
}

// Validator verifies access tokens and protects HTTP handlers with them.
// Create it with New; all methods are safe for concurrent use. Close stops
// its background key-set refresh.
type Validator struct {
	issuers      map[string]*keySet
	audiences    []string
	algorithms   []*algorithm
	leeway       time.Duration
	acceptJWT    bool
	cookie       string
	optional     *http.ServeMux
	metadata     *metadataDoc
	errorHandler func(http.ResponseWriter, *http.Request, error)
	cache        *tokenCache
	dpop         *dpopPolicy
	logger       *slog.Logger
	hooks        Hooks
	now          func() time.Time

	// introspection checks opaque tokens; nil without
	// Config.Introspection.
	introspection *introspector

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New checks cfg and returns a Validator. It starts fetching each issuer's
// key set but does not wait for it: it returns even when the provider is
// down. Verify waits for that first fetch (within its own context) when it
// needs a key; if the fetch failed, tokens are refused with ErrUnknownKey
// until a retry brings the keys. Fetches and the background refresh stop
// when ctx is done or Close is called; ctx must not be nil.
func New(ctx context.Context, cfg Config) (*Validator, error) {
	v := &Validator{
		acceptJWT: cfg.AcceptJWTType,
		cookie:    cfg.Cookie,
		hooks:     cfg.Hooks,
		now:       cfg.Now,
		logger:    cfg.Logger,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	v.leeway = cfg.Leeway
	switch {
	case v.leeway == 0:
		v.leeway = DefaultLeeway
	case v.leeway < 0:
		v.leeway = 0
	}
	v.errorHandler = cfg.ErrorHandler
	if v.errorHandler == nil {
		v.errorHandler = v.WriteError
	}
	steps := []func(*Config) error{
		v.setAudiences, v.setAlgorithms, v.setOptional, v.setDPoP,
		v.setMetadata, // after setDPoP: it lists the DPoP algorithms
	}
	for _, step := range steps {
		if err := step(&cfg); err != nil {
			return nil, err
		}
	}
	issuers, err := issuerList(cfg)
	if err != nil {
		return nil, err
	}
	v.cache = newTokenCache(cfg.CacheSize)
	ctx, v.cancel = context.WithCancel(ctx)
	if err := v.startIntrospection(ctx, cfg); err != nil {
		v.cancel()
		return nil, err
	}
	if err := v.startKeySets(ctx, cfg, issuers); err != nil {
		v.cancel()
		return nil, err
	}
	return v, nil
}

func (v *Validator) setAudiences(cfg *Config) error {
	if len(cfg.Audiences) == 0 {
		return errors.New("middleware: Config.Audiences is required")
	}
	if slices.Contains(cfg.Audiences, "") {
		return errors.New("middleware: Config.Audiences holds an empty audience")
	}
	v.audiences = slices.Clone(cfg.Audiences)
	return nil
}

func (v *Validator) setAlgorithms(cfg *Config) error {
	names := cfg.Algorithms
	if len(names) == 0 {
		names = defaultAlgorithms
	}
	for _, name := range names {
		a := lookupAlgorithm(name)
		switch {
		case strings.EqualFold(name, "none"):
			return errors.New(`middleware: algorithm "none" is never accepted`)
		case len(name) > 2 && strings.EqualFold(name[:2], "HS"):
			return fmt.Errorf("middleware: HMAC algorithm %q refused: a resource server shares no secret with its issuer", name)
		case a == nil:
			return fmt.Errorf("middleware: unsupported algorithm %q (algorithms are case-sensitive)", name)
		}
		if !slices.Contains(v.algorithms, a) {
			v.algorithms = append(v.algorithms, a)
		}
	}
	return nil
}

// allowed returns the configured algorithm called name, or nil.
func (v *Validator) allowed(name string) *algorithm {
	for _, a := range v.algorithms {
		if a.name == name {
			return a
		}
	}
	return nil
}

func (v *Validator) setOptional(cfg *Config) (err error) {
	if len(cfg.OptionalPatterns) == 0 {
		return nil
	}
	defer func() {
		if p := recover(); p != nil { // ServeMux panics on a bad pattern
			err = fmt.Errorf("middleware: Config.OptionalPatterns: %v", p)
		}
	}()
	v.optional = http.NewServeMux()
	for _, p := range cfg.OptionalPatterns {
		v.optional.Handle(p, http.NotFoundHandler())
	}
	return nil
}

func issuerList(cfg Config) ([]Issuer, error) {
	var list []Issuer
	if cfg.Issuer != "" {
		list = append(list, Issuer{URL: cfg.Issuer, JWKSURL: cfg.JWKSURL})
	} else if cfg.JWKSURL != "" {
		return nil, errors.New("middleware: Config.JWKSURL is set without Config.Issuer")
	}
	list = append(list, cfg.Issuers...)
	if len(list) == 0 {
		return nil, errors.New("middleware: Config.Issuer is required")
	}
	seen := make(map[string]bool)
	for _, iss := range list {
		if err := checkURL(iss.URL); err != nil {
			return nil, fmt.Errorf("middleware: issuer %q: %w", iss.URL, err)
		}
		if iss.JWKSURL != "" {
			if err := checkURL(iss.JWKSURL); err != nil {
				return nil, fmt.Errorf("middleware: JWKS URL %q: %w", iss.JWKSURL, err)
			}
		}
		if seen[iss.URL] {
			return nil, fmt.Errorf("middleware: issuer %q configured twice", iss.URL)
		}
		seen[iss.URL] = true
	}
	return list, nil
}

// checkURL accepts absolute https URLs, and http URLs on loopback hosts,
// without query or fragment.
func checkURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("not an absolute http(s) URL")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return errors.New("http is allowed only on loopback hosts; use https")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("has a query, fragment or user info")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (v *Validator) startKeySets(ctx context.Context, cfg Config, issuers []Issuer) error {
	minWait, maxWait := cfg.MinRefreshInterval, cfg.MaxRefreshInterval
	if minWait <= 0 {
		minWait = DefaultMinRefreshInterval
	}
	if maxWait <= 0 {
		maxWait = max(DefaultMaxRefreshInterval, minWait)
	}
	if minWait > maxWait {
		return fmt.Errorf("middleware: MinRefreshInterval %v exceeds MaxRefreshInterval %v", minWait, maxWait)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = defaultClient()
	}
	v.issuers = make(map[string]*keySet, len(issuers))
	for _, iss := range issuers {
		ks := &keySet{
			issuer:  iss.URL,
			jwksURL: iss.JWKSURL,
			client:  client,
			logger:  v.logger,
			onFetch: cfg.Hooks.JWKSFetched,
			minWait: minWait,
			maxWait: maxWait,
			ctx:     ctx,
			wg:      &v.wg,
		}
		v.issuers[iss.URL] = ks
	}
	for _, ks := range v.issuers {
		ks.start()
	}
	return nil
}

// Close stops the background key-set refresh and waits for fetches under
// way to end. Verify keeps working with the keys and cache held, without
// fetching. Close is idempotent and always returns nil.
func (v *Validator) Close() error {
	v.closeOnce.Do(func() {
		for _, ks := range v.issuers {
			ks.close()
		}
		v.cancel()
		v.wg.Wait()
	})
	return nil
}

// Verify checks token, a compact JWS access token, and returns its claims.
// It runs these steps in order, each failing with the error named:
//
//  1. the verified-token cache, for tokens of at most 16 KiB: a token
//     that passed every step before is answered from it, its exp still
//     enforced with the current time;
//  2. shape: three non-empty base64url segments, a header segment of at
//     most 2 KiB (ErrMalformed); nothing is split or decoded before;
//  3. header: alg in Config.Algorithms, exactly (ErrInvalidSignature); no
//     crit, zip, b64 or nested JWT (ErrMalformed);
//  4. payload: a JSON object whose registered claims have their JSON
//     types (ErrMalformed, ErrInvalidClaims);
//  5. iss: one of the configured issuers, exactly (ErrInvalidIssuer);
//  6. aud: holds one of Config.Audiences (ErrInvalidAudience);
//  7. time: exp required and not past, nbf and iat not in the future, all
//     with the leeway (ErrExpired, ErrInvalidClaims);
//  8. type: typ at+jwt, or with AcceptJWTType JWT or none but not an ID
//     token (ErrInvalidType);
//  9. signature: with the issuer's key of that kid, whose alg and type fit
//     the algorithm (ErrUnknownKey, ErrInvalidSignature). Only an unknown
//     kid can make Verify fetch the key set, and wait for it within ctx;
//  10. cnf: no confirmation claim, as sender-constrained tokens are not
//     bearer tokens (ErrSenderConstrained). This runs on cached tokens
//     too: Check accepts a token with cnf.jkt under the DPoP scheme, with
//     a proof, and the same token must still be refused here.
//
// Header members and claims are known by their exact names, after JSON
// unescaping: "ALG", "Crit" or "ISS" are other, unknown names, which are
// ignored. A name given twice counts with its last value.
//
// Claims are checked before the signature so that a token failing them
// costs no signature check and never triggers a fetch; a token is only
// accepted when every step passes. Verify does not check scopes (see
// RequireScope), sub, jti replay, or revocation.
func (v *Validator) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.verifyAs(ctx, token, false)
}

// verifyAs is Verify for a token presented with the DPoP scheme (dpop
// true: cnf.jkt required) or as a bearer token (no cnf allowed).
func (v *Validator) verifyAs(ctx context.Context, token string, dpop bool) (*Claims, error) {
	c, hit, err := v.verify(ctx, token)
	if err == nil {
		if err = checkConfirmation(c, dpop); err != nil {
			c = nil
		}
	}
	if v.hooks.Verified != nil {
		v.hooks.Verified(hit, err)
	}
	return c, err
}

func (v *Validator) verify(ctx context.Context, token string) (*Claims, bool, error) {
	if len(token) > maxTokenBytes {
		return nil, false, errTooLong
	}
	if v.introspection != nil && !jwtShaped(token) {
		return v.introspect(ctx, token)
	}
	// The cache only holds tokens that passed every step, so a hit needs
	// no format check, which would cost more than the lookup.
	now := v.now()
	if c, ok := v.cache.get(token, now); ok {
		return c, true, nil
	}
	dot1, dot2, err := splitToken(token)
	if err != nil {
		return nil, false, err
	}
	h, err := v.parseHeader(token[:dot1])
	if err != nil {
		return nil, false, err
	}
	c, err := parseClaims(token[dot1+1 : dot2])
	if err != nil {
		return nil, false, err
	}
	ks, err := v.checkIssuer(c)
	if err != nil {
		return nil, false, err
	}
	if err := v.checkClaims(c, h, now); err != nil {
		return nil, false, err
	}
	var sigBuf [512]byte // an RSA signature of 4096 bits, or any ECDSA or EdDSA one
	sig, err := decodeInto(sigBuf[:], token[dot2+1:])
	if err != nil {
		return nil, false, fmt.Errorf("%w: signature is not base64url", ErrMalformed)
	}
	key, err := ks.verify(ctx, h, token[:dot2], sig)
	if err != nil {
		return nil, false, err
	}
	notAfter := c.expiry.Add(v.leeway)
	if limit := now.Add(cacheTTL); limit.Before(notAfter) {
		notAfter = limit
	}
	v.cache.put(token, c, key, now, notAfter)
	return c, false, nil
}
