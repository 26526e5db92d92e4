package client

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// AuthMethod is how the client authenticates to the token endpoint and the
// other endpoints it posts to (PAR, revocation), by its RFC 8414 name.
type AuthMethod string

// Client authentication methods.
const (
	// AuthClientSecretBasic sends the client ID and secret in an HTTP Basic
	// Authorization header, each form-encoded first (RFC 6749 §2.3.1).
	AuthClientSecretBasic AuthMethod = "client_secret_basic"
	// AuthClientSecretPost sends them as client_id and client_secret form
	// parameters.
	AuthClientSecretPost AuthMethod = "client_secret_post"
	// AuthPrivateKeyJWT sends a client assertion (RFC 7523) signed with
	// Config.PrivateKey, whose audience is the issuer.
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
	// AuthNone sends only client_id: a public client, protected by PKCE.
	AuthNone AuthMethod = "none"
)

// Endpoint describes the authorization server. The rp package fills it in
// from the provider's discovery document.
type Endpoint struct {
	// Issuer is the authorization server's issuer identifier. It is the
	// audience of private_key_jwt assertions and the value RFC 9207's iss
	// parameter must carry. Empty is allowed only for plain OAuth 2.0
	// servers without metadata; the iss parameter is then not checked.
	Issuer string
	// AuthURL is the authorization endpoint; needed by AuthCodeURL.
	AuthURL string
	// TokenURL is the token endpoint. Required.
	TokenURL string
	// PARURL is the pushed authorization request endpoint (RFC 9126);
	// needed when Config.UsePAR or RequirePAR is set.
	PARURL string
	// RevocationURL is the token revocation endpoint (RFC 7009); needed
	// by Revoke.
	RevocationURL string
	// DeviceAuthURL is the device authorization endpoint (RFC 8628,
	// device_authorization_endpoint); needed by DeviceAuth.
	DeviceAuthURL string
	// RequirePAR says the server accepts only pushed authorization
	// requests (require_pushed_authorization_requests); the client then
	// pushes every request.
	RequirePAR bool
	// IssParameterSupported says the server sends RFC 9207's iss parameter
	// in every authorization response
	// (authorization_response_iss_parameter_supported); a response
	// without it is then rejected.
	IssParameterSupported bool
}

// Config configures a Client. Only ClientID and Endpoint.TokenURL are
// required; the zero value of every other field is a secure default.
type Config struct {
	// ClientID is the client identifier issued by the server.
	ClientID string
	// ClientSecret is the client secret, for the client_secret methods.
	ClientSecret string
	// AuthMethod is the client authentication method. Empty means
	// AuthClientSecretBasic when ClientSecret is set and AuthNone when it
	// is not.
	AuthMethod AuthMethod

	// PrivateKey signs private_key_jwt client assertions: an RSA, ECDSA
	// (P-256, P-384, P-521) or Ed25519 key, or any crypto.Signer for one
	// (an HSM or KMS key).
	PrivateKey crypto.Signer
	// KeyID is the kid header of client assertions, naming the public key
	// in the client's registered JWKS. Empty sends no kid.
	KeyID string
	// SigningAlg is the JWS algorithm of client assertions. With
	// private_key_jwt: RS256, RS384, RS512, PS256, PS384, PS512, ES256,
	// ES384, ES512 or EdDSA, matching the key; empty means RS256 for RSA
	// keys and the one algorithm of ECDSA and Ed25519 keys. With
	// client_secret_jwt: HS256 (the default), HS384 or HS512.
	SigningAlg string

	// Endpoint is the authorization server's endpoints and capabilities.
	Endpoint Endpoint

	// RedirectURL is the redirect URI of authorization requests; the
	// RedirectURL option overrides it per request.
	RedirectURL string
	// Scopes are the scopes of authorization requests, space-joined; the
	// Scopes option replaces them per request.
	Scopes []string

	// UsePAR pushes every authorization request to Endpoint.PARURL (RFC
	// 9126) even when the server does not require it, so that request
	// parameters never travel through the browser.
	UsePAR bool

	// DPoP, when set, binds the client's tokens to its key (RFC 9449):
	// every request the client posts (token requests of any grant, PAR,
	// device authorization) but revocation carries a DPoP proof, retried
	// once with the server's nonce when it answers 400 use_dpop_nonce;
	// authorization requests carry dpop_jkt, binding the code to the key;
	// and HTTPClientFor sends DPoP-bound access tokens with proofs. One
	// DPoP may be shared by several Clients. Nil means bearer tokens
	// only.
	DPoP *DPoP

	// HTTPClient sends the client's requests to the server. Nil means a
	// client with a 10-second timeout on http.DefaultTransport (never
	// http.DefaultClient, which has no timeout); a client without a
	// Timeout gets that 10-second one for the requests to the server, so
	// that none waits for ever. Redirects from the server's endpoints are
	// never followed, whatever the client's CheckRedirect says.
	HTTPClient *http.Client
	// MaxResponseBytes caps the size of the server's responses; a longer
	// one fails with ErrResponseTooLarge without being read further. Zero
	// means 1 MiB.
	MaxResponseBytes int64

	// InsecureAllowHTTP allows http:// endpoint and redirect URLs on hosts
	// other than loopback ones (localhost, 127.0.0.0/8, ::1), and lets
	// HTTPClientFor send tokens to them. Credentials and tokens then cross
	// the network in clear text: use it only in closed test networks.
	InsecureAllowHTTP bool

	// Logger receives records about refreshes (debug: done or failed;
	// warn: an early refresh failed; error: OnRotate failed). Nil means no
	// logging.
	Logger *slog.Logger
	// Now is the client's clock, for token expiry, client assertions and
	// DPoP proofs. Nil means time.Now.
	Now func() time.Time
}

// Defaults of Config: the timeout of the default HTTP client and the
// response-size cap.
const (
	DefaultHTTPTimeout      = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// Client is an OAuth 2.0 client of one authorization server: it makes
// authorization requests (with PKCE, state and nonce, pushed when
// configured), checks authorization responses, redeems codes and refreshes
// tokens. Create it with New. A Client is safe for concurrent use.
type Client struct {
	cfg      Config
	method   AuthMethod
	http     *http.Client
	maxBytes int64
	log      *slog.Logger
	now      func() time.Time
	signer   jose.Signer // private_key_jwt and client_secret_jwt only
	dpop     *DPoP       // nil without DPoP
}

// New validates cfg and returns a Client. It fails when a required field
// is missing, an endpoint URL is not absolute https (http is allowed on
// loopback hosts, or anywhere with InsecureAllowHTTP), the authentication
// method lacks what it needs (a secret, or a key and an issuer for
// private_key_jwt), or PAR is wanted without a PAR endpoint.
func New(cfg Config) (*Client, error) {
	cfg.Scopes = slices.Clone(cfg.Scopes)
	if cfg.ClientID == "" {
		return nil, errors.New("client: ClientID is required")
	}
	if err := checkEndpoints(cfg); err != nil {
		return nil, err
	}
	if cfg.MaxResponseBytes < 0 {
		return nil, errors.New("client: MaxResponseBytes must not be negative")
	}
	c := &Client{
		cfg:      cfg,
		method:   cfg.AuthMethod,
		maxBytes: cfg.MaxResponseBytes,
		log:      cfg.Logger,
		now:      cfg.Now,
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.http = noRedirects(cfg.HTTPClient)
	if err := c.setupAuth(); err != nil {
		return nil, err
	}
	if err := c.setupDPoP(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkEndpoints validates the endpoint and redirect URLs of cfg.
func checkEndpoints(cfg Config) error {
	e := cfg.Endpoint
	if e.TokenURL == "" {
		return errors.New("client: Endpoint.TokenURL is required")
	}
	if (cfg.UsePAR || e.RequirePAR) && e.PARURL == "" {
		return errors.New("client: pushed authorization requests need Endpoint.PARURL")
	}
	if e.IssParameterSupported && e.Issuer == "" {
		return errors.New("client: Endpoint.IssParameterSupported needs Endpoint.Issuer")
	}
	urls := []struct{ name, value string }{
		{"Endpoint.Issuer", e.Issuer},
		{"Endpoint.AuthURL", e.AuthURL},
		{"Endpoint.TokenURL", e.TokenURL},
		{"Endpoint.PARURL", e.PARURL},
		{"Endpoint.RevocationURL", e.RevocationURL},
		{"Endpoint.DeviceAuthURL", e.DeviceAuthURL},
	}
	for _, u := range urls {
		if u.value == "" {
			continue
		}
		if err := checkServerURL(u.value, cfg.InsecureAllowHTTP); err != nil {
			return fmt.Errorf("client: %s: %w", u.name, err)
		}
	}
	if cfg.RedirectURL != "" {
		if err := checkRedirectURL(cfg.RedirectURL, cfg.InsecureAllowHTTP); err != nil {
			return fmt.Errorf("client: RedirectURL: %w", err)
		}
	}
	return nil
}

// checkServerURL accepts absolute https URLs without fragment, and http
// ones on loopback hosts or when insecure.
func checkServerURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case !u.IsAbs() || u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Fragment != "":
		return fmt.Errorf("%q has a fragment", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (insecure || isLoopback(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("%q uses http on a host that is not loopback (InsecureAllowHTTP allows it)", raw)
	}
	return fmt.Errorf("%q: scheme must be https", raw)
}

// checkRedirectURL accepts what checkServerURL accepts and the private-use
// schemes of native apps (RFC 8252 §7.1).
func checkRedirectURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case !u.IsAbs():
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Fragment != "":
		return fmt.Errorf("%q has a fragment", raw)
	case u.Scheme == "http" || u.Scheme == "https":
		return checkServerURL(raw, insecure)
	}
	return nil
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// noRedirects returns a copy of hc (or of the default client) that does not
// follow redirects: a token endpoint that redirects is misconfigured or
// hostile, and the credentials must not follow. A copy without a timeout
// gets DefaultHTTPTimeout.
func noRedirects(hc *http.Client) *http.Client {
	out := &http.Client{}
	if hc != nil {
		*out = *hc
	}
	if out.Timeout <= 0 {
		out.Timeout = DefaultHTTPTimeout
	}
	out.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return out
}
