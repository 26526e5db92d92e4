package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3 requires
// 2048 bits).
const minRSABits = 2048

// parseKeySet reads a JWK set and returns its usable signature keys, with
// a reason for each key it skipped. It fails only when body is not a JWK
// set or holds no usable key; one bad key never fails the set (RFC 7517
// §5: implementations should ignore keys they do not understand).
func parseKeySet(body []byte) (keys []*verifyKey, skipped []error, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWK set: %w", err)
	}
	if len(set.Keys) > maxKeys {
		skipped = append(skipped, fmt.Errorf("%d keys beyond the first %d ignored", len(set.Keys)-maxKeys, maxKeys))
		set.Keys = set.Keys[:maxKeys]
	}
	for i, raw := range set.Keys {
		k, err := parseKey(raw)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("key %d: %w", i, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("no usable signature key")
	}
	return keys, skipped, nil
}

// parseKey reads one JWK with go-jose (whose JSON decoding is
// case-sensitive and checks EC points are on their curve) and applies the
// rules for a signature-verification key: kty RSA, EC or OKP; use absent
// or "sig"; key_ops absent or including "verify"; RSA of 2048 bits or
// more; curves P-256, P-384, P-521 and Ed25519. Private parts, if a
// provider publishes them by mistake, are dropped.
func parseKey(raw json.RawMessage) (*verifyKey, error) {
	var meta struct {
		Kty    string   `json:"kty"`
		KeyOps []string `json:"key_ops"`
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, err
	}
	switch meta.Kty {
	case "RSA", "EC", "OKP":
	case "oct":
		return nil, errors.New("symmetric key (kty oct) never used")
	default:
		return nil, fmt.Errorf("unsupported kty %q", meta.Kty)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return nil, fmt.Errorf("kid %q: use %q", jwk.KeyID, jwk.Use)
	}
	if meta.KeyOps != nil && !slices.Contains(meta.KeyOps, "verify") {
		return nil, fmt.Errorf("kid %q: key_ops without verify", jwk.KeyID)
	}
	pub := jwk.Public().Key
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("kid %q: RSA key of %d bits", jwk.KeyID, k.N.BitLen())
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return nil, fmt.Errorf("kid %q: unsupported curve", jwk.KeyID)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("kid %q: unsupported key %T", jwk.KeyID, pub)
	}
	return &verifyKey{kid: jwk.KeyID, alg: jwk.Algorithm, pub: pub}, nil
}
