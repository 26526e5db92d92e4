package middleware

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of Introspection fields left zero.
const (
	defaultIntrospectionTTL      = 5 * time.Minute
	defaultIntrospectionNegative = 10 * time.Second
	defaultIntrospectionBytes    = 64 << 10
	defaultIntrospectionTimeout  = 10 * time.Second
	// discoveryRetry is how long a failed discovery of the introspection
	// endpoint is remembered before the next opaque token tries again.
	discoveryRetry = 10 * time.Second
)

// Client authentication methods of Introspection.AuthMethod (RFC 6749
// §2.3.1, as named by RFC 8414).
const (
	authBasic = "client_secret_basic"
	authPost  = "client_secret_post"
)

var (
	// ErrIntrospection: an opaque token could not be checked: the
	// introspection endpoint could not be discovered or reached, timed
	// out, answered with a status other than 200 (redirects are not
	// followed), with a Content-Type other than application/json (or
	// +json), with something other than a JSON object of at most
	// Introspection.MaxResponseBytes, or with no boolean active member; or
	// the Validator was closed, or the caller's context ended. The token
	// is refused, not judged: retrying later may succeed, so WriteError
	// answers 503 temporarily_unavailable without a challenge (the
	// client's token may well be good; it should retry, not log in
	// again). These answers are never cached.
	ErrIntrospection = errors.New("middleware: token introspection failed")

	// ErrInactive: the authorization server says the opaque token is not
	// active (active is false): it is unknown, expired, revoked, or not
	// for this resource server to know. WriteError answers 401
	// invalid_token.
	ErrInactive = errors.New("middleware: token not active")

	// errOpaqueCharset refuses, without asking the server, an opaque
	// token that is not an RFC 6750 b64token.
	errOpaqueCharset = fmt.Errorf("%w: not a bearer token (RFC 6750 §2.1 characters)", ErrMalformed)
)

// Introspection configures the checking of opaque (non-JWT) access tokens
// by OAuth 2.0 Token Introspection (RFC 7662) at the authorization server
// Config.Issuer names, which Config.Introspection requires. ClientID and
// ClientSecret are required; every other zero field has the default its
// comment states. New copies it: changing it after New has no effect.
//
// An opaque token must be an RFC 6750 b64token of at most 16 KiB
// (ErrMalformed, without a call). It is posted with
// token_type_hint=access_token and the client's credentials, and the
// answer is checked in this order, each failing with the error named:
//
//  1. a 200 response with a JSON object (ErrIntrospection);
//  2. active is the JSON boolean true (false: ErrInactive; absent or of
//     another type: ErrIntrospection, as the question went unanswered);
//  3. the registered claims and RFC 7662 members have their JSON types
//     (ErrInvalidClaims);
//  4. token_type, when present, is Bearer or DPoP (case-insensitive) or
//     access_token, and token_use, a member some servers send, is
//     access_token or access when present (ErrInvalidType): an active
//     refresh token is refused;
//  5. iss, when present, is one of the configured issuers, exactly; when
//     absent, the token's Issuer is Config.Issuer, the server that
//     answered (ErrInvalidIssuer);
//  6. aud is present and holds one of Config.Audiences
//     (ErrInvalidAudience): a token the same server issued for another
//     API is refused;
//  7. exp, when present, is not past, and nbf and iat, when present, not
//     in the future, with Config.Leeway (ErrExpired, ErrInvalidClaims).
//     Unlike a JWT, an opaque token needs no exp: Expiry is then zero.
//
// The Claims hold the whole answer: the accessors read its registered
// claims, Get and Decode every member (username, act, cnf, active, …).
//
// Concurrent requests with the same token share one call, and verdicts
// are cached, keyed by the token's SHA-256, never by the token itself,
// which is also never logged: an accepted token until its exp and at
// most MaxCacheTTL, a refusal (ErrInactive and the errors of steps 3 to
// 7) for NegativeTTL. ErrIntrospection is never cached. Because an answer
// is reused, a revoked token is still accepted until its entry ends: at
// most MaxCacheTTL after it was introspected.
//
// Not checked: scopes (see RequireScope). The cnf confirmation of a
// sender-constrained token is applied as for JWTs, by Verify and Check,
// after these steps.
type Introspection struct {
	// URL is the introspection endpoint. Empty means discovery: the
	// introspection_endpoint of Config.Issuer's metadata, read like
	// jwks_uri (see Config.JWKSURL). It must be https, or http on a
	// loopback host.
	URL string

	// ClientID and ClientSecret authenticate the resource server to the
	// endpoint. Both are required.
	ClientID     string
	ClientSecret string

	// AuthMethod is how the client authenticates:
	// "client_secret_basic" (the default when empty: HTTP Basic, both
	// values form-encoded first, RFC 6749 §2.3.1) or
	// "client_secret_post" (both in the form body).
	AuthMethod string

	// CacheSize is the number of introspection answers remembered, active
	// and inactive. Zero means 10,000; negative disables the cache. The
	// answers held total at most CacheSize × 4 KiB.
	CacheSize int

	// MaxCacheTTL bounds how long an active answer is reused: until the
	// token's exp, and at most MaxCacheTTL after the call. It is how late
	// a revocation may be seen. Zero means 5 minutes; negative means
	// active answers are not cached.
	MaxCacheTTL time.Duration

	// NegativeTTL is how long a refusal (inactive, or active but failing
	// a check here) is reused, so that a flood of junk tokens does not
	// flood the server. Zero means 10 seconds; negative means refusals
	// are not cached.
	NegativeTTL time.Duration

	// HTTPClient makes the calls. nil means Config.HTTPClient, or when
	// that is nil too, the package's default client (10 s timeout,
	// redirects only to https). Redirects are never followed for the
	// introspection call itself, whatever the client: the token would go
	// with them.
	HTTPClient *http.Client

	// MaxResponseBytes caps the response body; a larger one is an error.
	// Zero or negative means 64 KiB.
	MaxResponseBytes int64

	// Timeout bounds each introspection call, and each discovery. Zero
	// or negative means 10 seconds. HTTPClient's own timeout, if shorter,
	// applies too.
	Timeout time.Duration
}

// introspector asks the authorization server about opaque tokens.
type introspector struct {
	issuer       string // Config.Issuer: the server asked
	clientID     string
	clientSecret string
	post         bool          // client_secret_post
	discovery    *http.Client  // for metadata: may follow safe redirects
	client       *http.Client  // for the call: never follows redirects
	maxBytes     int64         // MaxResponseBytes
	timeout      time.Duration // Timeout
	positiveTTL  time.Duration // MaxCacheTTL; <= 0 means none
	negativeTTL  time.Duration // NegativeTTL; <= 0 means none
	cache        *introspectionCache
	logger       *slog.Logger
	now          func() time.Time

	// discovering is a one-slot semaphore: one discovery at a time.
	discovering chan struct{}

	mu           sync.Mutex
	endpoint     string    // "" until configured or discovered
	discoveredAt time.Time // of the last failed discovery
	discoveryErr error     // of the last failed discovery
	flights      map[[sha256.Size]byte]*flight
	closed       bool

	// ctx bounds every call; it is the Validator's, ended by Close.
	ctx context.Context
	wg  sync.WaitGroup // calls under way
}

// startIntrospection checks cfg.Introspection and, when set, makes the
// introspector, whose calls end with ctx. The Validator's wait group
// holds until they have.
func (v *Validator) startIntrospection(ctx context.Context, cfg Config) error {
	ic := cfg.Introspection
	if ic == nil {
		return nil
	}
	if cfg.Issuer == "" {
		return errors.New("middleware: Config.Introspection needs Config.Issuer, the authorization server that answers")
	}
	if ic.URL != "" {
		if err := checkURL(ic.URL); err != nil {
			return fmt.Errorf("middleware: introspection URL %q: %w", ic.URL, err)
		}
	}
	if ic.ClientID == "" || ic.ClientSecret == "" {
		return errors.New("middleware: Introspection.ClientID and ClientSecret are required")
	}
	in := &introspector{
		issuer:       cfg.Issuer,
		endpoint:     ic.URL,
		clientID:     ic.ClientID,
		clientSecret: ic.ClientSecret,
		maxBytes:     positiveOr(ic.MaxResponseBytes, defaultIntrospectionBytes),
		timeout:      positiveOr(ic.Timeout, defaultIntrospectionTimeout),
		positiveTTL:  cmp.Or(ic.MaxCacheTTL, defaultIntrospectionTTL),
		negativeTTL:  cmp.Or(ic.NegativeTTL, defaultIntrospectionNegative),
		cache:        newIntrospectionCache(ic.CacheSize),
		logger:       v.logger,
		now:          v.now,
		discovering:  make(chan struct{}, 1),
		flights:      make(map[[sha256.Size]byte]*flight),
		ctx:          ctx,
	}
	switch ic.AuthMethod {
	case "", authBasic:
	case authPost:
		in.post = true
	default:
		return fmt.Errorf("middleware: Introspection.AuthMethod %q: want %q or %q", ic.AuthMethod, authBasic, authPost)
	}
	in.discovery = ic.HTTPClient
	if in.discovery == nil {
		in.discovery = cfg.HTTPClient
	}
	if in.discovery == nil {
		in.discovery = defaultClient()
	}
	noRedirect := *in.discovery
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	in.client = &noRedirect
	v.introspection = in
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		<-ctx.Done()
		in.mu.Lock()
		in.closed = true
		in.mu.Unlock()
		in.wg.Wait()
	}()
	return nil
}

// positiveOr returns x when it is positive, else d.
func positiveOr[T int64 | time.Duration](x, d T) T {
	if x <= 0 {
		return d
	}
	return x
}

// jwtShaped reports whether token is three base64url segments, the shape
// that goes to JWT verification.
func jwtShaped(token string) bool {
	_, _, err := splitToken(token)
	return err == nil || err == errHeaderTooBig
}

// introspect checks an opaque token: from the cache, or by one call
// shared by the concurrent requests carrying it. It reports whether the
// cache answered.
func (v *Validator) introspect(ctx context.Context, token string) (*Claims, bool, error) {
	if !isBearerToken(token) {
		return nil, false, errOpaqueCharset
	}
	in := v.introspection
	key := sha256.Sum256([]byte(token))
	if e, ok := in.cache.get(key, v.now()); ok {
		return e.claims, true, e.err
	}
	c, err := in.share(ctx, key, func(ctx context.Context) (*Claims, error) {
		return v.introspectOnce(ctx, key, token)
	})
	return c, false, err
}

// introspectOnce asks the server about token, checks the answer and
// caches the verdict. Failures to get an answer are not cached.
func (v *Validator) introspectOnce(ctx context.Context, key [sha256.Size]byte, token string) (*Claims, error) {
	in := v.introspection
	body, err := in.call(ctx, token)
	if err != nil {
		in.logger.DebugContext(ctx, "middleware: token introspection failed", "issuer", in.issuer, "error", err)
		return nil, err
	}
	now := v.now()
	c, err := v.checkIntrospection(body)
	if errors.Is(err, ErrIntrospection) {
		in.logger.DebugContext(ctx, "middleware: token introspection failed", "issuer", in.issuer, "error", err)
		return nil, err
	}
	if err == nil {
		err = v.checkIntrospectedTime(c, now)
	}
	if err != nil {
		in.logger.DebugContext(ctx, "middleware: introspected token refused", "issuer", in.issuer, "error", err)
		in.cache.put(key, nil, err, now.Add(in.negativeTTL), now)
		return nil, err
	}
	notAfter := now.Add(in.positiveTTL)
	if !c.expiry.IsZero() && c.expiry.Before(notAfter) {
		notAfter = c.expiry
	}
	in.cache.put(key, c, nil, notAfter, now)
	return c, nil
}

// call posts token to the introspection endpoint and returns the body of
// a 200 JSON answer.
func (in *introspector) call(ctx context.Context, token string) (string, error) {
	endpoint, err := in.endpointURL(ctx)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if in.post {
		form.Set("client_id", in.clientID)
		form.Set("client_secret", in.clientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrIntrospection, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if !in.post {
		req.SetBasicAuth(url.QueryEscape(in.clientID), url.QueryEscape(in.clientSecret))
	}
	resp, err := in.client.Do(req) // its errors name the endpoint, not the body
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrIntrospection, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%w: %s answered status %d", ErrIntrospection, endpoint, resp.StatusCode)
	}
	if !isJSONMediaType(resp.Header.Get("Content-Type")) {
		return "", fmt.Errorf("%w: %s answered Content-Type %q, not JSON", ErrIntrospection, endpoint, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, in.maxBytes+1))
	if err != nil {
		return "", fmt.Errorf("%w: reading the answer of %s: %w", ErrIntrospection, endpoint, err)
	}
	if int64(len(body)) > in.maxBytes {
		return "", fmt.Errorf("%w: %s answered more than %d bytes", ErrIntrospection, endpoint, in.maxBytes)
	}
	return string(body), nil
}

// isJSONMediaType reports whether ct is application/json or a +json type.
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// endpointURL returns the configured or discovered endpoint. Discovery
// runs one at a time; a failure is remembered for discoveryRetry, so a
// stream of opaque tokens does not become a stream of discoveries.
func (in *introspector) endpointURL(ctx context.Context) (string, error) {
	in.mu.Lock()
	u := in.endpoint
	in.mu.Unlock()
	if u != "" {
		return u, nil
	}
	select {
	case in.discovering <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrIntrospection, ctx.Err())
	}
	defer func() { <-in.discovering }()
	in.mu.Lock()
	u, failedAt, lastErr := in.endpoint, in.discoveredAt, in.discoveryErr
	in.mu.Unlock()
	switch {
	case u != "":
		return u, nil
	case lastErr != nil && in.now().Sub(failedAt) < discoveryRetry:
		return "", lastErr
	}
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	var errs []error
	for _, doc := range discoveryURLs(in.issuer) {
		u, err := in.discover(ctx, doc)
		if err == nil {
			in.mu.Lock()
			in.endpoint = u
			in.mu.Unlock()
			return u, nil
		}
		errs = append(errs, err)
	}
	err := fmt.Errorf("%w: no introspection endpoint: %w", ErrIntrospection, errors.Join(errs...))
	if ctx.Err() == nil { // a call given up by its callers is no verdict
		in.mu.Lock()
		in.discoveredAt, in.discoveryErr = in.now(), err
		in.mu.Unlock()
	}
	return "", err
}

// discover reads introspection_endpoint from the metadata at docURL,
// whose issuer must be the configured one exactly.
func (in *introspector) discover(ctx context.Context, docURL string) (string, error) {
	body, _, err := get(ctx, in.discovery, docURL)
	if err != nil {
		return "", err
	}
	var doc struct {
		Issuer   string `json:"issuer"`
		Endpoint string `json:"introspection_endpoint"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("middleware: discovery %s: %w", docURL, err)
	}
	if doc.Issuer != in.issuer {
		return "", fmt.Errorf("middleware: discovery %s: issuer %q, want %q", docURL, doc.Issuer, in.issuer)
	}
	if err := checkURL(doc.Endpoint); err != nil {
		return "", fmt.Errorf("middleware: discovery %s: introspection_endpoint: %w", docURL, err)
	}
	return doc.Endpoint, nil
}

// isBearerChar marks the characters of an RFC 6750 §2.1 b64token, but
// its trailing "=".
var isBearerChar = func() (t [256]bool) {
	for _, r := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/" {
		t[r] = true
	}
	return t
}()

// isBearerToken reports whether s is a b64token (RFC 6750 §2.1): what an
// Authorization: Bearer header may carry, and all an opaque token sent
// to the server may be.
func isBearerToken(s string) bool {
	i := 0
	for i < len(s) && isBearerChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i == len(s)
}
