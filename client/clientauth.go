package client

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// assertionType is the client_assertion_type of private_key_jwt and
// client_secret_jwt (RFC 7523).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime is how long a client assertion is valid: long enough
// for one request, short enough that a captured one is soon useless.
const assertionLifetime = time.Minute

// setupAuth resolves the authentication method and checks that the
// configuration has what it needs.
func (c *Client) setupAuth() error {
	cfg := c.cfg
	if c.method == "" {
		c.method = AuthNone
		if cfg.ClientSecret != "" {
			c.method = AuthClientSecretBasic
		}
	}
	switch c.method {
	case AuthClientSecretBasic, AuthClientSecretPost:
		if cfg.ClientSecret == "" {
			return fmt.Errorf("client: %s needs ClientSecret", c.method)
		}
	case AuthNone:
		if cfg.ClientSecret != "" {
			return errors.New("client: ClientSecret is set but AuthMethod is none")
		}
	case AuthPrivateKeyJWT:
		return c.setupAssertions()
	case AuthClientSecretJWT:
		return c.setupSecretAssertions()
	default:
		return fmt.Errorf("client: unsupported AuthMethod %q", c.method)
	}
	return nil
}

// setupAssertions builds the signer of private_key_jwt assertions.
func (c *Client) setupAssertions() error {
	cfg := c.cfg
	switch {
	case cfg.PrivateKey == nil:
		return errors.New("client: private_key_jwt needs PrivateKey")
	case cfg.Endpoint.Issuer == "":
		return errors.New("client: private_key_jwt needs Endpoint.Issuer, the assertion audience")
	case cfg.ClientSecret != "":
		return errors.New("client: ClientSecret is set but AuthMethod is private_key_jwt")
	}
	key := cryptosigner.Opaque(cfg.PrivateKey)
	algs := key.Algs()
	if len(algs) == 0 {
		return fmt.Errorf("client: unsupported PrivateKey type %T", cfg.PrivateKey.Public())
	}
	alg := algs[0] // RS256 for RSA, the only one for EC and Ed25519
	if cfg.SigningAlg != "" {
		alg = jose.SignatureAlgorithm(cfg.SigningAlg)
		if !slices.Contains(algs, alg) {
			return fmt.Errorf("client: SigningAlg %s does not fit a %T key", alg, cfg.PrivateKey.Public())
		}
	}
	opts := &jose.SignerOptions{}
	if cfg.KeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), cfg.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return fmt.Errorf("client: private_key_jwt signer: %w", err)
	}
	c.signer = signer
	return nil
}

// AuthClientSecretJWT sends a client assertion (RFC 7523) signed with
// HMAC, keyed with Config.ClientSecret (OpenID Connect Core §9): HS256, or
// HS384 or HS512 as Config.SigningAlg says. The audience is the issuer, so
// Endpoint.Issuer is required, and the secret must be at least as long as
// the hash (32, 48 or 64 bytes, RFC 7518 §3.2). The secret itself never
// leaves the client.
const AuthClientSecretJWT AuthMethod = "client_secret_jwt"

// hmacKeySize is the shortest secret each HMAC algorithm accepts: the size
// of its hash (RFC 7518 §3.2).
var hmacKeySize = map[jose.SignatureAlgorithm]int{jose.HS256: 32, jose.HS384: 48, jose.HS512: 64}

// setupSecretAssertions builds the signer of client_secret_jwt assertions.
func (c *Client) setupSecretAssertions() error {
	cfg := c.cfg
	alg := jose.HS256
	if cfg.SigningAlg != "" {
		alg = jose.SignatureAlgorithm(cfg.SigningAlg)
	}
	size, ok := hmacKeySize[alg]
	switch {
	case cfg.ClientSecret == "":
		return errors.New("client: client_secret_jwt needs ClientSecret")
	case cfg.Endpoint.Issuer == "":
		return errors.New("client: client_secret_jwt needs Endpoint.Issuer, the assertion audience")
	case cfg.PrivateKey != nil:
		return errors.New("client: PrivateKey is set but AuthMethod is client_secret_jwt")
	case !ok:
		return fmt.Errorf("client: SigningAlg %s is not HS256, HS384 or HS512 (client_secret_jwt)", alg)
	case len(cfg.ClientSecret) < size:
		return fmt.Errorf("client: client_secret_jwt with %s needs a ClientSecret of at least %d bytes, not %d", alg, size, len(cfg.ClientSecret))
	}
	opts := &jose.SignerOptions{}
	if cfg.KeyID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), cfg.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: []byte(cfg.ClientSecret)}, opts)
	if err != nil {
		return fmt.Errorf("client: client_secret_jwt signer: %w", err)
	}
	c.signer = signer
	return nil
}

// authenticate adds the client's credentials to a request's form and
// header.
func (c *Client) authenticate(form url.Values, h http.Header) error {
	id := c.cfg.ClientID
	switch c.method {
	case AuthClientSecretBasic:
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic.
		cred := url.QueryEscape(id) + ":" + url.QueryEscape(c.cfg.ClientSecret)
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	case AuthClientSecretPost:
		form.Set("client_id", id)
		form.Set("client_secret", c.cfg.ClientSecret)
	case AuthPrivateKeyJWT, AuthClientSecretJWT:
		a, err := c.assertion()
		if err != nil {
			return err
		}
		form.Set("client_id", id)
		form.Set("client_assertion_type", assertionType)
		form.Set("client_assertion", a)
	case AuthNone:
		form.Set("client_id", id)
	}
	return nil
}

// assertion returns a fresh client assertion, signed with the private key
// or the client secret per the method: iss and sub are the client ID, aud
// is the issuer alone (as draft-ietf-oauth-rfc7523bis requires, against
// audience injection), jti is random, and it expires within
// assertionLifetime.
func (c *Client) assertion() (string, error) {
	now := c.now()
	claims := struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
		Aud string `json:"aud"`
		JTI string `json:"jti"`
		IAT int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}{
		Iss: c.cfg.ClientID,
		Sub: c.cfg.ClientID,
		Aud: c.cfg.Endpoint.Issuer,
		JTI: randomString(),
		IAT: now.Unix(),
		Exp: now.Add(assertionLifetime).Unix(),
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("client: encode client assertion: %w", err)
	}
	jws, err := c.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("client: sign client assertion: %w", err)
	}
	return jws.CompactSerialize()
}

// randomString returns 32 random bytes (256 bits), base64url encoded.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}
