package client

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// minRSABits is the smallest RSA key NewDPoP accepts.
const minRSABits = 2048

// DPoP proves possession of a private key to the servers a client talks
// to (RFC 9449): it makes the DPoP proofs of token requests, pushed
// authorization requests and API calls, and remembers the nonces servers
// hand out. Tokens issued against its proofs are bound to its key: only a
// holder of the key can use them, so a stolen access or refresh token is
// useless on its own.
//
// Create it with NewDPoP; the zero value is not usable. Set it as
// Config.DPoP (the client then proves possession at the token and PAR
// endpoints and binds authorization codes with dpop_jkt) and, for API
// calls, as Transport.DPoP (HTTPClientFor does that). One DPoP may serve
// several Clients and Transports, so that they share one key and one
// nonce cache. A DPoP is safe for concurrent use once Now is set.
type DPoP struct {
	// Now is the clock of the proofs' iat claim for Proof and for a
	// Transport made by hand; a Client's own proofs, and those of its
	// HTTPClientFor, use Config.Now. Nil means time.Now. Set it before the
	// DPoP is first used and do not change it afterwards.
	Now func() time.Time

	key    jose.OpaqueSigner
	alg    jose.SignatureAlgorithm
	header string // the base64url protected header, the same for every proof
	jkt    string
	nonces nonceCache
}

// NewDPoP returns a DPoP that signs proofs with key, any crypto.Signer
// (an HSM or KMS key too) for an ECDSA P-256, P-384 or P-521, Ed25519 or
// RSA (2048 bits or more) key, and algorithm alg. Empty alg means ES256,
// ES384 or ES512 for the ECDSA curves, EdDSA for Ed25519, and RS256 for
// RSA, the RSA algorithm servers accept most widely (pass PS256 for
// RSA-PSS). The algorithm must fit the key: none and MAC algorithms
// (HS256 …) never do. Other key types, and ECDSA keys on other curves, are
// refused. The key must stay usable for as
// long as the tokens bound to it are.
func NewDPoP(key crypto.Signer, alg string) (*DPoP, error) {
	if key == nil {
		return nil, errors.New("client: DPoP needs a key")
	}
	pub := key.Public()
	if k, ok := pub.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("client: DPoP RSA key has %d bits, at least %d are needed", k.N.BitLen(), minRSABits)
	}
	signer := cryptosigner.Opaque(key)
	algs := signer.Algs() // RS256 first for RSA, the only one for the others
	if len(algs) == 0 {
		return nil, fmt.Errorf("client: unsupported DPoP key type %T", pub)
	}
	a := algs[0]
	if alg != "" {
		a = jose.SignatureAlgorithm(alg)
		if !slices.Contains(algs, a) {
			return nil, fmt.Errorf("client: DPoP algorithm %q does not fit a %T key (an asymmetric algorithm for the key is needed)", alg, pub)
		}
	}
	jwk := jose.JSONWebKey{Key: pub}
	jwkJSON, err := jwk.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("client: DPoP public key: %w", err)
	}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("client: DPoP key thumbprint: %w", err)
	}
	header, err := json.Marshal(struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}{"dpop+jwt", string(a), jwkJSON})
	if err != nil {
		return nil, fmt.Errorf("client: DPoP header: %w", err)
	}
	return &DPoP{
		key:    signer,
		alg:    a,
		header: base64.RawURLEncoding.EncodeToString(header),
		jkt:    base64.RawURLEncoding.EncodeToString(thumb),
	}, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the public key,
// base64url encoded: the jkt that servers put in the cnf claim of bound
// tokens, and the dpop_jkt of authorization requests.
func (d *DPoP) Thumbprint() string { return d.jkt }

// Algorithm returns the JWS algorithm of the proofs, e.g. "ES256".
func (d *DPoP) Algorithm() string { return string(d.alg) }

// Proof returns a DPoP proof (a compact JWS) for one HTTP request: method
// and rawURL are the request's (the query and fragment are left out of
// htu), iat is d.Now, jti is 256 random bits, and, when accessToken is not
// empty, ath is its SHA-256 hash. A nonce the origin of rawURL sent before
// (see SetNonce) is included. Proof fails for an empty or malformed method
// or a URL that is not absolute.
//
// Proof does not learn nonces from responses by itself: a caller that
// sends proofs without a Transport or Client passes each response's
// DPoP-Nonce header to SetNonce.
func (d *DPoP) Proof(method, rawURL, accessToken string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("client: DPoP proof URL: %w", err)
	}
	return d.proof(method, u, accessToken, d.now())
}

// SetNonce records nonce, the value of a DPoP-Nonce response header, for
// the origin (scheme, host and port) of rawURL: later proofs for that
// origin carry it. It fails for a URL that is not absolute and for a
// nonce that is empty, longer than MaxDPoPNonceBytes or not made of the
// characters RFC 9449 §8.1 allows. The last MaxDPoPNonceOrigins origins
// are remembered.
func (d *DPoP) SetNonce(rawURL, nonce string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("client: DPoP nonce URL: %w", err)
	}
	origin, err := originOf(u)
	if err != nil {
		return err
	}
	return d.nonces.set(origin, nonce)
}

func (d *DPoP) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// dpopClaims are the claims of a proof (RFC 9449 §4.2).
type dpopClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// proof signs a proof for method and u at now.
func (d *DPoP) proof(method string, u *url.URL, accessToken string, now time.Time) (string, error) {
	if d == nil || d.key == nil {
		return "", errors.New("client: DPoP was not made by NewDPoP")
	}
	if method == "" || strings.IndexFunc(method, func(r rune) bool { return r > 0x7e || !isTokenChar(byte(r)) }) >= 0 {
		return "", fmt.Errorf("client: DPoP proof: bad method %q", method)
	}
	htu, err := targetURI(u)
	if err != nil {
		return "", err
	}
	origin, err := originOf(u)
	if err != nil {
		return "", err
	}
	c := dpopClaims{
		JTI:   randomString(),
		HTM:   method,
		HTU:   htu,
		IAT:   now.Unix(),
		Nonce: d.nonces.get(origin),
	}
	if accessToken != "" {
		c.ATH = accessTokenHash(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("client: DPoP proof: %w", err)
	}
	input := d.header + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig, err := d.key.SignPayload([]byte(input), d.alg)
	if err != nil {
		return "", fmt.Errorf("client: sign DPoP proof: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// observe records the DPoP-Nonce header of a response from u's origin.
// An unusable nonce is ignored: the next proof goes without it and the
// server asks again.
func (d *DPoP) observe(u *url.URL, h http.Header) bool {
	nonce := h.Get("DPoP-Nonce")
	if nonce == "" {
		return false
	}
	origin, err := originOf(u)
	if err != nil {
		return false
	}
	return d.nonces.set(origin, nonce) == nil
}

// accessTokenHash is the ath claim: base64url(SHA-256(token)).
func accessTokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// targetURI is the htu of a request to u: u without user info, query and
// fragment, with an empty path written "/".
func targetURI(u *url.URL) (string, error) {
	if !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("client: DPoP proof: %q is not an absolute URL", u.Redacted())
	}
	t := url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if t.Path == "" {
		t.Path = "/"
	}
	return t.String(), nil
}

// setupDPoP checks Config.DPoP.
func (c *Client) setupDPoP() error {
	if c.cfg.DPoP != nil && c.cfg.DPoP.key == nil {
		return errors.New("client: Config.DPoP was not made by NewDPoP")
	}
	c.dpop = c.cfg.DPoP
	return nil
}
