package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Signing algorithms the server has keys for. Every key set holds one key
// of each.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
	// HS256 signs with a client's secret; it is used only when a test asks
	// for it (Config.SigningAlg or SignOptions.Alg).
	HS256 = "HS256"
	// None produces an unsigned token (alg "none"), for negative tests.
	None = "none"
)

// signingKey is one private key with its published identity.
type signingKey struct {
	kid string
	alg string
	key crypto.Signer
}

// keySet is the server's keys: the active generation signs, older
// generations stay published until retired.
type keySet struct {
	active  []signingKey // one per algorithm
	retired []signingKey // still published, no longer used to sign
	gen     int
}

func newKeySet() (*keySet, error) {
	ks := &keySet{}
	if err := ks.rotate(); err != nil {
		return nil, err
	}
	return ks, nil
}

// rotate makes a new generation of keys active and keeps the previous one
// published.
func (ks *keySet) rotate() error {
	ks.gen++
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("oidctest: generate RSA key: %w", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("oidctest: generate EC key: %w", err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("oidctest: generate Ed25519 key: %w", err)
	}
	ks.retired = append(ks.retired, ks.active...)
	ks.active = []signingKey{
		{kid: fmt.Sprintf("rs256-%d", ks.gen), alg: RS256, key: rsaKey},
		{kid: fmt.Sprintf("es256-%d", ks.gen), alg: ES256, key: ecKey},
		{kid: fmt.Sprintf("eddsa-%d", ks.gen), alg: EdDSA, key: edKey},
	}
	return nil
}

// retire stops publishing every key that is not active.
func (ks *keySet) retire() { ks.retired = nil }

// signer returns the active key for alg.
func (ks *keySet) signer(alg string) (signingKey, bool) {
	for _, k := range ks.active {
		if k.alg == alg {
			return k, true
		}
	}
	return signingKey{}, false
}

// jwks returns the public JSON Web Key Set.
func (ks *keySet) jwks() jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range append(ks.active[:len(ks.active):len(ks.active)], ks.retired...) {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.key.Public(),
			KeyID:     k.kid,
			Algorithm: k.alg,
			Use:       "sig",
		})
	}
	return set
}

var b64 = base64.RawURLEncoding

// signJWS produces a compact JWS over payload. header must carry "alg";
// hmacKey is used for HS256 only. A key is needed for every alg but none.
func signJWS(header map[string]any, payload []byte, key crypto.Signer, hmacKey []byte) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("oidctest: encode JWS header: %w", err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	alg, _ := header["alg"].(string)
	var sig []byte
	switch alg {
	case None:
		return input + ".", nil
	case HS256:
		if len(hmacKey) == 0 {
			return "", errors.New("oidctest: HS256 needs a client secret")
		}
		mac := hmac.New(sha256.New, hmacKey)
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case RS256, ES256, EdDSA:
		if key == nil {
			return "", fmt.Errorf("oidctest: no key for %s", alg)
		}
		sig, err = signInput(alg, key, []byte(input))
		if err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("oidctest: unsupported alg %q", alg)
	}
	return input + "." + b64.EncodeToString(sig), nil
}

func signInput(alg string, key crypto.Signer, input []byte) ([]byte, error) {
	switch alg {
	case EdDSA:
		return key.Sign(rand.Reader, input, crypto.Hash(0))
	case RS256:
		d := sha256.Sum256(input)
		return key.Sign(rand.Reader, d[:], crypto.SHA256)
	case ES256:
		d := sha256.Sum256(input)
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("oidctest: ES256 needs an ECDSA key")
		}
		r, s, err := ecdsa.Sign(rand.Reader, ec, d[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, fmt.Errorf("oidctest: unsupported alg %q", alg)
}

// leftHash is the OpenID Connect at_hash/c_hash: the left half of the
// SHA-256 of value, base64url encoded. All of our algorithms use SHA-256
// except EdDSA, for which OpenID Connect also specifies SHA-512; we follow
// the common practice of SHA-512 for Ed25519.
func leftHash(alg, value string) string {
	var sum []byte
	if alg == EdDSA {
		s := sha512.Sum512([]byte(value))
		sum = s[:]
	} else {
		s := sha256.Sum256([]byte(value))
		sum = s[:]
	}
	return b64.EncodeToString(sum[:len(sum)/2])
}
