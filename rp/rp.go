package rp

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/sessions"

	"github.com/keyway-go/keyway/client"
)

// Config configures a relying party. Issuer, ClientID, RedirectURL and
// Sessions are required; every other field has a stated default.
type Config struct {
	// Issuer is the provider's issuer URL. The discovery document must
	// name exactly this issuer. http is accepted only for loopback hosts.
	Issuer string
	// ClientID and ClientSecret identify the app. An empty secret makes a
	// public client (token endpoint auth "none"; PKCE protects the code).
	ClientID     string
	ClientSecret string
	// AuthMethod overrides the token endpoint authentication method.
	AuthMethod client.AuthMethod
	// PrivateKey and KeyID sign private_key_jwt client assertions.
	PrivateKey crypto.Signer
	KeyID      string

	// RedirectURL is the absolute URL of the callback handler.
	RedirectURL string
	// PostLogoutRedirectURL is where the provider sends the user after
	// logout. Empty means no post_logout_redirect_uri.
	PostLogoutRedirectURL string

	// Scopes to request; "openid" is always added. Nil means
	// openid profile email.
	Scopes []string
	// Resources are RFC 8707 resource indicators for the access token.
	Resources []string
	// UsePAR pushes authorization requests (RFC 9126); it is used anyway
	// when the provider requires it.
	UsePAR bool
	// FormPost asks for response_mode=form_post. The provider then POSTs
	// the response from its own site, and browsers send SameSite=Lax
	// cookies only on same-site POSTs: unless provider and app are the
	// same site, TransactionStore must write SameSite=None (so Secure)
	// cookies.
	FormPost bool
	// Prompt is the prompt parameter. Nil means "consent" when Scopes hold
	// offline_access (OpenID Connect Core §11: providers issue a refresh
	// token only then) and none otherwise; an empty slice sends none.
	Prompt []string
	// FetchUserinfo calls the userinfo endpoint after login and merges its
	// claims; its sub must equal the ID token's.
	FetchUserinfo bool
	// MaxAge, when positive, asks the provider to re-authenticate users
	// whose login is older, and checks auth_time against it.
	MaxAge time.Duration
	// ACRValues are requested; the ID token's acr must be one of them.
	ACRValues []string
	// ExtraAudiences are other audiences the app trusts in an ID token
	// besides ClientID. An ID token with any other audience is refused.
	ExtraAudiences []string

	// Sessions stores logged-in sessions, e.g. session.NewCookieStore,
	// or session.NewRedisStore for replicas (see AccessToken for how they
	// refresh tokens once).
	Sessions sessions.Store
	// SessionName is the session's name in Sessions. Default "keyway".
	SessionName string
	// TransactionStore keeps login transactions in short-lived sealed
	// cookies, one per login. Required: use session.NewCookieStore with
	// the same keys and a short AbsoluteTimeout.
	TransactionStore sessions.Store
	// MaxTransactions caps concurrent logins per browser. Default 5.
	MaxTransactions int

	// ReplayCache refuses a back-channel logout token seen before (by
	// iss and jti), and a callback whose state was used before (a copy of
	// the transaction cookie replayed), before its code is redeemed. Logouts records back- and front-channel logouts, so
	// that sessions they end are refused even where Sessions cannot
	// delete them (cookies). Replicas of an app must share both, or a
	// logout received by one replica is not applied by the others (one
	// session.RedisCache serves as both). When
	// one is nil and the other also implements its interface, the other
	// is used for both; when both are nil, one MemoryCache of this RP
	// alone serves both.
	ReplayCache ReplayCache
	Logouts     LogoutList
	// SessionLifetime is how long logouts are remembered: at least the
	// longest a session can live in Sessions (its absolute timeout), or
	// a session logged out over the back or front channel is accepted
	// again once its logout is forgotten. Default 24 hours, the default
	// absolute timeout of package session's stores.
	SessionLifetime time.Duration

	// HTTPClient makes every outgoing call. Nil means a client with a
	// 10-second timeout; a client without a Timeout gets that one too, so
	// that no call waits on the provider for ever. Responses are capped at
	// MaxResponseBytes (default 1 MiB) whatever the client.
	HTTPClient       *http.Client
	MaxResponseBytes int64
	// Leeway allowed on exp, iat, nbf and auth_time. Default 60 s.
	Leeway time.Duration
	// Logger receives debug and warning logs. Nil means none.
	Logger *slog.Logger
	// Hooks observe logins, refreshes and logouts, e.g. for metrics. The
	// zero value observes nothing.
	Hooks Hooks
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// ErrorPage renders login failures. Nil means a plain HTML page.
	ErrorPage func(w http.ResponseWriter, r *http.Request, status int, err error)
}

// metadata is the part of the discovery document the RP uses.
type metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	PAREndpoint           string   `json:"pushed_authorization_request_endpoint"`
	RequirePAR            bool     `json:"require_pushed_authorization_requests"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
	BackchannelLogout     bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSID  bool     `json:"backchannel_logout_session_supported"`
}

// RP is an OpenID Connect relying party: it logs users in and out and
// gives handlers the logged-in user. It is safe for concurrent use.
type RP struct {
	cfg      Config
	meta     metadata
	client   *client.Client
	verifier *idTokenVerifier
	http     *http.Client
	refresh  *refresher
	log      *slog.Logger
}

// New discovers the provider and returns a relying party. ctx bounds the
// discovery request only.
func New(ctx context.Context, cfg Config) (*RP, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	hc := cappedClient(cfg.HTTPClient, cfg.MaxResponseBytes)
	meta, err := discover(ctx, hc, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	algs, err := allowedAlgs(meta.IDTokenSigningAlgs, cfg.ClientSecret)
	if err != nil {
		return nil, err
	}
	c, err := client.New(client.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		AuthMethod:   cfg.AuthMethod,
		PrivateKey:   cfg.PrivateKey,
		KeyID:        cfg.KeyID,
		Endpoint: client.Endpoint{
			Issuer:                meta.Issuer,
			AuthURL:               meta.AuthorizationEndpoint,
			TokenURL:              meta.TokenEndpoint,
			PARURL:                meta.PAREndpoint,
			RevocationURL:         meta.RevocationEndpoint,
			RequirePAR:            meta.RequirePAR,
			IssParameterSupported: meta.IssParameterSupported,
		},
		RedirectURL:      cfg.RedirectURL,
		Scopes:           cfg.Scopes,
		UsePAR:           cfg.UsePAR,
		HTTPClient:       hc,
		MaxResponseBytes: cfg.MaxResponseBytes,
		Logger:           cfg.Logger,
		Now:              cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("rp: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rp := &RP{
		cfg:    cfg,
		meta:   meta,
		client: c,
		http:   hc,
		log:    log,
	}
	rp.verifier = newIDTokenVerifier(rp, algs)
	rp.refresh = newRefresher()
	return rp, nil
}

func (c *Config) setDefaults() error {
	switch {
	case c.Issuer == "":
		return errors.New("rp: Config.Issuer is required")
	case c.ClientID == "":
		return errors.New("rp: Config.ClientID is required")
	case c.RedirectURL == "":
		return errors.New("rp: Config.RedirectURL is required")
	case c.Sessions == nil:
		return errors.New("rp: Config.Sessions is required")
	case c.TransactionStore == nil:
		return errors.New("rp: Config.TransactionStore is required")
	}
	if err := checkIssuerURL(c.Issuer); err != nil {
		return err
	}
	if _, err := url.Parse(c.RedirectURL); err != nil {
		return fmt.Errorf("rp: RedirectURL: %w", err)
	}
	if c.Scopes == nil {
		c.Scopes = []string{"openid", "profile", "email"}
	}
	if !slices.Contains(c.Scopes, "openid") {
		c.Scopes = append([]string{"openid"}, c.Scopes...)
	}
	if c.SessionName == "" {
		c.SessionName = "keyway"
	}
	if c.MaxTransactions <= 0 {
		c.MaxTransactions = 5
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 1 << 20
	}
	if c.Leeway <= 0 {
		c.Leeway = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ErrorPage == nil {
		c.ErrorPage = defaultErrorPage
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 24 * time.Hour
	}
	c.setCacheDefaults()
	return nil
}

// setCacheDefaults fills in ReplayCache and Logouts (see Config).
func (c *Config) setCacheDefaults() {
	if c.ReplayCache == nil {
		c.ReplayCache, _ = c.Logouts.(ReplayCache)
	}
	if c.Logouts == nil {
		c.Logouts, _ = c.ReplayCache.(LogoutList)
	}
	if c.ReplayCache == nil || c.Logouts == nil {
		mem := &MemoryCache{Now: c.Now}
		if c.ReplayCache == nil {
			c.ReplayCache = mem
		}
		if c.Logouts == nil {
			c.Logouts = mem
		}
	}
}

// checkIssuerURL accepts https issuers, and http ones on loopback hosts.
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("rp: issuer %q is not an absolute URL without query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("rp: issuer %q uses http on a non-loopback host", issuer)
	}
	return fmt.Errorf("rp: issuer %q must use https", issuer)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// discover fetches the discovery document and checks that it names
// exactly the expected issuer (OpenID Connect Discovery §4.3).
func discover(ctx context.Context, hc *http.Client, issuer string) (metadata, error) {
	wellKnown := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	var meta metadata
	if err := getJSON(ctx, hc, wellKnown, &meta); err != nil {
		return meta, fmt.Errorf("rp: discovery: %w", err)
	}
	if meta.Issuer != issuer {
		return meta, fmt.Errorf("%w: discovery names %q, expected %q", ErrIssuerMismatch, meta.Issuer, issuer)
	}
	if meta.AuthorizationEndpoint == "" || meta.TokenEndpoint == "" || meta.JWKSURI == "" {
		return meta, errors.New("rp: discovery: authorization_endpoint, token_endpoint and jwks_uri are required")
	}
	endpoints := []struct{ name, url string }{
		{"authorization_endpoint", meta.AuthorizationEndpoint},
		{"token_endpoint", meta.TokenEndpoint},
		{"jwks_uri", meta.JWKSURI},
		{"userinfo_endpoint", meta.UserinfoEndpoint},
		{"end_session_endpoint", meta.EndSessionEndpoint},
	}
	for _, e := range endpoints {
		if e.url == "" {
			continue
		}
		if u, err := url.Parse(e.url); err != nil || u.Host == "" || u.Fragment != "" || !secureURL(u) {
			return meta, fmt.Errorf("rp: discovery: %s %q is not an https URL (or http on a loopback host) without fragment", e.name, e.url)
		}
	}
	return meta, nil
}

// secureURL reports whether u is https, or http on a loopback host.
func secureURL(u *url.URL) bool {
	return u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())
}

// maxRedirects is how many redirects a discovery, JWKS or userinfo
// request may follow.
const maxRedirects = 5

// checkRedirect lets a request follow at most maxRedirects redirects, only
// to https URLs (or http on loopback hosts), then applies next if set.
func checkRedirect(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		switch {
		case len(via) >= maxRedirects:
			return fmt.Errorf("rp: stopped after %d redirects", maxRedirects)
		case !secureURL(req.URL):
			return fmt.Errorf("rp: refusing a redirect to %s", req.URL.Redacted())
		case next != nil:
			return next(req, via)
		}
		return nil
	}
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	return doJSON(hc, req, v)
}

// doJSON sends req and decodes a 200 JSON response into v.
func doJSON(hc *http.Client, req *http.Request, v any) error {
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL.Redacted(), resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	return nil
}

// allowedAlgs is the ID token algorithm allowlist: what the provider
// lists, asymmetric algorithms only, HS256/384/512 only when the provider
// lists them and the client secret is long enough to key them. Never none.
func allowedAlgs(listed []string, secret string) ([]string, error) {
	if len(listed) == 0 {
		listed = []string{oidc.RS256} // the default of Discovery §3
	}
	var out []string
	for _, a := range listed {
		switch a {
		case oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
			oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA:
			out = append(out, a)
		case "HS256", "HS384", "HS512":
			// Keyed with the client secret, which must be at least as
			// long as the hash (RFC 7518 §3.2), or it never verifies.
			if len(secret) >= hmacKeySize[a] {
				out = append(out, a)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("rp: the provider lists no usable ID token algorithm (%v)", listed)
	}
	return out, nil
}

var hmacKeySize = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// Issuer returns the provider's issuer.
func (rp *RP) Issuer() string { return rp.meta.Issuer }

// Client returns the OAuth client the RP uses, for calls it does not make
// itself (revocation, token exchange).
func (rp *RP) Client() *client.Client { return rp.client }

// errTooLarge reports a response over the size cap; it matches
// client.ErrResponseTooLarge, whichever call read the response.
var errTooLarge = fmt.Errorf("rp: %w", client.ErrResponseTooLarge)

// defaultHTTPTimeout bounds every outgoing call of a client without one.
const defaultHTTPTimeout = 10 * time.Second

// cappedClient returns a copy of hc (nil: a default client) whose response
// bodies fail after max bytes, with a 10 s timeout unless hc has one, that
// follows at most maxRedirects redirects and only to https (or loopback).
func cappedClient(hc *http.Client, max int64) *http.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	c := *hc
	if c.Timeout <= 0 {
		c.Timeout = defaultHTTPTimeout
	}
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = capTransport{base: base, max: max}
	c.CheckRedirect = checkRedirect(hc.CheckRedirect)
	return &c
}

type capTransport struct {
	base http.RoundTripper
	max  int64
}

func (t capTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes from %s", errTooLarge, resp.ContentLength, r.URL.Host)
	}
	resp.Body = &capBody{rc: resp.Body, left: t.max}
	return resp, nil
}

type capBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *capBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: exactly max bytes is fine.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, errTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *capBody) Close() error { return b.rc.Close() }
