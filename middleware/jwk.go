package middleware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
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

// maxProofRSABits is the largest RSA modulus accepted in a DPoP proof's
// jwk: it bounds what a client can make the server compute, and what a
// header segment of maxHeaderBytes can carry.
const maxProofRSABits = 4096

// proofKey is the public key of a DPoP proof's jwk header and its RFC
// 7638 SHA-256 thumbprint.
type proofKey struct {
	pub        crypto.PublicKey
	thumbprint [sha256.Size]byte
}

// jwkMembers are the JSON texts of the members of a proof's jwk that
// parseProofKey reads, the last of each name.
type jwkMembers struct {
	kty, crv, x, y, n, e string
	private              bool // has a member of a private or symmetric key
}

func (m *jwkMembers) set(name, value string) {
	switch name {
	case "kty":
		m.kty = value
	case "crv":
		m.crv = value
	case "x":
		m.x = value
	case "y":
		m.y = value
	case "n":
		m.n = value
	case "e":
		m.e = value
	case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
		m.private = true
	}
}

// Proof key errors, made once.
var (
	errJWKMissing = fmt.Errorf("%w: no jwk object in the header", ErrInvalidDPoPProof)
	errJWKPrivate = fmt.Errorf("%w: jwk holds a private or symmetric key", ErrInvalidDPoPProof)
	errJWKType    = fmt.Errorf("%w: jwk kty is not EC, OKP or RSA", ErrInvalidDPoPProof)
	errJWKCurve   = fmt.Errorf("%w: jwk curve not supported", ErrInvalidDPoPProof)
	errJWKPoint   = fmt.Errorf("%w: jwk is not a point of its curve", ErrInvalidDPoPProof)
	errJWKRSA     = fmt.Errorf("%w: jwk RSA key of the wrong size or exponent", ErrInvalidDPoPProof)
)

// parseProofKey reads text, the JSON text of a DPoP proof's jwk header
// (checked by readObject as part of the header), without go-jose and
// without building a map: kty EC (P-256, P-384, P-521, the point checked
// on its curve), OKP (Ed25519) or RSA (2048 to 4096 bits, an odd exponent
// from 3 to 2^31-1). A member of a private key (d, p, q, dp, dq, qi, oth)
// or of a symmetric one (k) refuses the key, whatever its value (RFC 9449
// §4.3: the jwk must not contain a private key). Coordinates, n and e must
// be the one base64url spelling of their value: no padding, no leading
// zero octets, exact sizes; so a key has one thumbprint. use, key_ops, alg
// and kid are ignored: the proof's alg header decides.
func parseProofKey(text string) (proofKey, error) {
	if text == "" || text[0] != '{' {
		return proofKey{}, errJWKMissing
	}
	var m jwkMembers
	readObject(text, m.set)
	if m.private {
		return proofKey{}, errJWKPrivate
	}
	kty, _ := jsonString(m.kty)
	switch kty {
	case "EC":
		return parseProofEC(&m)
	case "OKP":
		return parseProofOKP(&m)
	case "RSA":
		return parseProofRSA(&m)
	}
	return proofKey{}, errJWKType
}

func parseProofEC(m *jwkMembers) (proofKey, error) {
	crv, _ := jsonString(m.crv)
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return proofKey{}, errJWKCurve
	}
	size := (curve.Params().BitSize + 7) / 8
	x, _ := jsonString(m.x)
	y, _ := jsonString(m.y)
	var point [1 + 2*66]byte // SEC 1 uncompressed: 0x04 || x || y
	point[0] = 4
	if !decodeExact(point[1:1+size], x) || !decodeExact(point[1+size:1+2*size], y) {
		return proofKey{}, errJWKPoint
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point[:1+2*size])
	if err != nil {
		return proofKey{}, errJWKPoint
	}
	return proofKey{pub, jwkThumbprint(`{"crv":"`, crv, `","kty":"EC","x":"`, x, `","y":"`, y, `"}`)}, nil
}

func parseProofOKP(m *jwkMembers) (proofKey, error) {
	crv, _ := jsonString(m.crv)
	if crv != "Ed25519" {
		return proofKey{}, errJWKCurve
	}
	x, _ := jsonString(m.x)
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	if !decodeExact(pub, x) {
		return proofKey{}, errJWKPoint
	}
	return proofKey{pub, jwkThumbprint(`{"crv":"Ed25519","kty":"OKP","x":"`, x, `"}`)}, nil
}

func parseProofRSA(m *jwkMembers) (proofKey, error) {
	n, _ := jsonString(m.n)
	e, _ := jsonString(m.e)
	var nBuf [maxProofRSABits / 8]byte // caps the modulus at maxProofRSABits
	var eBuf [4]byte
	if len(n) > b64.EncodedLen(len(nBuf)) || len(e) > b64.EncodedLen(len(eBuf)) {
		return proofKey{}, errJWKRSA
	}
	nb, err1 := decodeInto(nBuf[:], n)
	eb, err2 := decodeInto(eBuf[:], e)
	if err1 != nil || err2 != nil || len(nb) == 0 || nb[0] == 0 || len(eb) == 0 || eb[0] == 0 {
		return proofKey{}, errJWKRSA
	}
	exp := 0
	for _, b := range eb {
		exp = exp<<8 | int(b)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: exp}
	if pub.N.BitLen() < minRSABits || exp < 3 || exp > 1<<31-1 || exp%2 == 0 {
		return proofKey{}, errJWKRSA
	}
	return proofKey{pub, jwkThumbprint(`{"e":"`, e, `","kty":"RSA","n":"`, n, `"}`)}, nil
}

// decodeExact decodes the base64url s into dst, and reports whether s
// held exactly len(dst) bytes.
func decodeExact(dst []byte, s string) bool {
	if len(s) != b64.EncodedLen(len(dst)) {
		return false
	}
	_, err := b64.Decode(dst, []byte(s)) // strict: exactly len(dst) bytes
	return err == nil
}

// jwkThumbprint is the SHA-256 of the concatenated parts: the RFC 7638
// canonical JSON of a key's required members, in lexicographic order and
// without whitespace. The values need no escaping: crv is one of a few
// fixed names, and the others were decoded as base64url, whose alphabet
// JSON takes as is.
func jwkThumbprint(parts ...string) [sha256.Size]byte {
	var buf [1 << 10]byte
	b := buf[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	return sha256.Sum256(b)
}
